"""Rewards to advantages: the API's formula, its special cases, and the "why nothing changed" text."""
import math

import pytest

from inference.engine.training.advantages import (
    STD_EPS, group_advantages, group_reason, has_signal, no_signal_reason, population_std, reward_stats,
)


def test_equal_rewards_give_zero_advantages_and_no_signal():
    assert group_advantages([3.0, 3.0, 3.0]) == [0.0, 0.0, 0.0]
    assert not has_signal([3.0, 3.0, 3.0])
    assert group_reason([3, 3]) == "all 2 rewards are equal (3.0)"


def test_equal_rewards_are_exact_zeros_despite_rounding_of_the_mean():
    # fsum([0.1] * 3) / 3 != 0.1 in binary floating point: the formula alone would give ~1e-13.
    assert group_advantages([0.1, 0.1, 0.1]) == [0.0, 0.0, 0.0]


def test_a_single_response_has_its_reward_as_advantage():
    assert group_advantages([1.0]) == [1.0]
    assert group_advantages([-1.0]) == [-1.0]
    assert group_advantages([0.25]) == [0.25]
    assert has_signal([-1.0])


def test_a_single_response_with_reward_zero_has_no_signal():
    assert group_advantages([0.0]) == [0.0]
    assert group_reason([0.0]) == "the only response has reward 0"


def test_the_formula_uses_the_population_std_plus_epsilon():
    rewards = [1.0, 2.0, 4.0, 7.0]
    mean = sum(rewards) / 4
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / 4)  # divided by n, not n - 1
    assert population_std(rewards) == pytest.approx(std)
    assert group_advantages(rewards) == pytest.approx([(r - mean) / (std + STD_EPS) for r in rewards])


def test_a_pair_rewarded_up_and_down_gets_plus_and_minus_one():
    assert group_advantages([1.0, -1.0]) == pytest.approx([1.0, -1.0], abs=2e-4)


def test_advantages_are_invariant_to_shifting_and_scaling_the_rewards():
    rewards = [0.0, 1.0, 5.0, 2.0]
    base = group_advantages(rewards)
    assert group_advantages([r + 100.0 for r in rewards]) == pytest.approx(base)
    # Scaling changes only the weight of the 1e-4 epsilon against the std.
    assert group_advantages([r * 1000.0 for r in rewards]) == pytest.approx(base, rel=1e-3)
    assert group_advantages([r * 0.01 for r in rewards]) == pytest.approx(base, rel=1e-2)


def test_advantages_of_a_group_sum_to_zero_and_have_unit_variance():
    advantages = group_advantages([0.3, -2.0, 1.5, 4.0, 0.0])
    assert sum(advantages) == pytest.approx(0.0, abs=1e-12)
    assert sum(a * a for a in advantages) / len(advantages) == pytest.approx(1.0, rel=1e-3)


def test_no_signal_reason_is_empty_when_any_group_has_signal():
    assert no_signal_reason([[1.0, 1.0], [0.0, 1.0]]) == ""
    assert no_signal_reason([[2.0]]) == ""


def test_no_signal_reason_explains_why_nothing_can_be_learned():
    assert no_signal_reason([[3.0, 3.0], [3.0, 3.0, 3.0]]) == (
        "all rewards in every group are equal (3.0): nothing to learn")
    assert no_signal_reason([[1.0, 1.0], [2.0, 2.0]]) == "the rewards within each group are equal: nothing to learn"
    assert no_signal_reason([[5.0, 5.0]]) == "all 2 rewards are equal (5.0): nothing to learn"
    assert no_signal_reason([[0.0]]) == "the only response has reward 0: nothing to learn"
    assert no_signal_reason([[0.0], [0.0]]) == "every response has reward 0: nothing to learn"
    mixed = no_signal_reason([[0.0], [2.0, 2.0]])
    assert mixed.endswith(": nothing to learn") and "group 1" in mixed and "group 2" in mixed


@pytest.mark.parametrize("rewards", [[], [1.0, math.nan], [math.inf]])
def test_empty_groups_and_non_finite_rewards_are_refused(rewards):
    with pytest.raises(ValueError):
        group_advantages(rewards)


def test_reward_stats_cover_every_reward_of_every_group():
    mean, std = reward_stats([[1.0, 3.0], [5.0]])
    assert mean == pytest.approx(3.0)
    assert std == pytest.approx(math.sqrt(8 / 3))
