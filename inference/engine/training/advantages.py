"""From rewards to advantages, one group (one context, its rewarded responses) at a time.

The API's rule: `(r - mean) / (std + 1e-4)` for two or more responses; a single response's reward is
its advantage (thumbs-up +1, thumbs-down -1); a group whose rewards are all equal teaches nothing.

`std` is the POPULATION standard deviation (divide by n, not n - 1): the advantages of a group then
have mean 0 and variance ~1 whatever its size, and a pair rewarded (1, -1) gets advantages (+1, -1),
the same as two single thumbs. (TRL uses the sample std, which shrinks small groups' advantages by
sqrt((n - 1) / n): 0.71 for a pair.)

Plain Python floats: a group has at most a few dozen rewards, and exact comparisons ("all equal")
must not depend on a device or a dtype.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

STD_EPS = 1e-4  # keeps a near-constant group from exploding; part of the public formula


def population_std(rewards: Sequence[float]) -> float:
    """Standard deviation over n (not n - 1). 0.0 for a single value."""
    n = len(rewards)
    assert n >= 1, "a group has at least one response"
    mean = math.fsum(rewards) / n
    return math.sqrt(math.fsum((r - mean) ** 2 for r in rewards) / n)


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """The advantage of each response of one group (same order).

    One response: its reward. All rewards equal: zeros (exactly, not rounding noise: the mean of
    [0.1, 0.1, 0.1] is not exactly 0.1 in floating point). Otherwise `(r - mean) / (std + 1e-4)`.
    """
    _check(rewards)
    if len(rewards) == 1:
        return [float(rewards[0])]
    if max(rewards) == min(rewards):
        return [0.0] * len(rewards)
    mean = math.fsum(rewards) / len(rewards)
    std = population_std(rewards)
    return [(r - mean) / (std + STD_EPS) for r in rewards]


def group_reason(rewards: Sequence[float]) -> str:
    """Why this group teaches nothing, or "" when it has signal (some advantage is not zero)."""
    _check(rewards)
    if len(rewards) == 1:
        return "" if rewards[0] != 0 else "the only response has reward 0"
    if max(rewards) == min(rewards):
        return f"all {len(rewards)} rewards are equal ({_fmt(rewards[0])})"
    return ""


def has_signal(rewards: Sequence[float]) -> bool:
    """Whether this group moves the weights at all."""
    return group_reason(rewards) == ""


def no_signal_reason(groups: Sequence[Sequence[float]]) -> str:
    """"" when at least one group has signal; otherwise one sentence for the API answer, ending in
    "nothing to learn", e.g. "all rewards in every group are equal (3.0): nothing to learn"."""
    assert len(groups) >= 1, "a training has at least one group"
    reasons = [group_reason(g) for g in groups]
    if any(r == "" for r in reasons):
        return ""
    if len(groups) == 1:
        return f"{reasons[0]}: nothing to learn"
    everything = [r for g in groups for r in g]
    if all(len(g) >= 2 for g in groups):
        if max(everything) == min(everything):
            return f"all rewards in every group are equal ({_fmt(everything[0])}): nothing to learn"
        return "the rewards within each group are equal: nothing to learn"
    if all(len(g) == 1 for g in groups):
        return "every response has reward 0: nothing to learn"
    details = "; ".join(f"group {i + 1}: {r}" for i, r in enumerate(reasons))
    return f"no group has signal ({details}): nothing to learn"


def reward_stats(groups: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Mean and population std of every reward of the call (all groups together), for the report."""
    everything = [float(r) for g in groups for r in g]
    assert everything, "a training has at least one reward"
    return math.fsum(everything) / len(everything), population_std(everything)


def _check(rewards: Sequence[float]) -> None:
    if len(rewards) == 0:
        raise ValueError("a group needs at least one response")
    if not all(math.isfinite(r) for r in rewards):
        raise ValueError(f"rewards must be finite numbers, got {list(rewards)}")


def _fmt(x: float) -> str:
    """3 -> "3.0", 0.1 -> "0.1": short, and the same for an int and its float."""
    return repr(float(x))
