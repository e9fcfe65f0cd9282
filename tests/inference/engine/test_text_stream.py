"""Incremental detokenisation, stop strings and token choice, without a model."""
import torch

from inference.engine.serving.detokenizer import IncrementalDetokenizer, StopStrings
from inference.engine.serving.sampling import make_generator, sample_next

from .tiny import tiny_tokenizer


def test_a_character_split_over_tokens_is_emitted_whole():
    tok = tiny_tokenizer()
    ids = tok.encode("añ€🐯!", add_special_tokens=False)
    detok = IncrementalDetokenizer(tok)
    pieces = [detok.push(i) for i in ids]
    assert "".join(pieces) + detok.flush() == "añ€🐯!"
    assert all("\ufffd" not in p for p in pieces)
    assert [p for p in pieces if p] == ["a", "ñ", "€", "🐯", "!"]


def test_stop_strings_are_held_back_until_decided_and_never_emitted():
    stops = StopStrings(["END", "\n\n"])
    assert stops.feed("Hello E") == ("Hello ", False)  # "E" could start "END"
    assert stops.feed("X") == ("EX", False)
    assert stops.feed("and E") == ("and ", False)
    assert stops.feed("N") == ("", False)
    assert stops.feed("D and more") == ("", True)


def test_the_earliest_stop_string_wins_and_held_text_flushes_at_the_end():
    stops = StopStrings(["bc", "abcd"])
    assert stops.feed("xabcd") == ("x", True)  # "abcd" starts before "bc"
    other = StopStrings(["stop"])
    assert other.feed("to st") == ("to ", False)
    assert other.flush() == "st"


def test_temperature_zero_is_greedy_and_top_p_tiny_is_greedy_too():
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    gens = [make_generator(i, torch.device("cpu")) for i in range(3)]
    greedy = logits.argmax(-1)
    assert torch.equal(sample_next(logits, [0.0] * 3, [1.0] * 3, gens), greedy)
    assert torch.equal(sample_next(logits, [1.0] * 3, [1e-6] * 3, gens), greedy)


def test_a_rows_draws_do_not_depend_on_its_neighbours():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(1))

    def draws(temps):
        gens = [make_generator(7, torch.device("cpu")) for _ in range(4)]
        return [sample_next(logits, temps, [0.9] * 4, gens)[3].item() for _ in range(20)]

    assert draws([1.0, 1.0, 0.0, 1.0]) == draws([0.0, 0.5, 1.0, 1.0])


def _nucleus(row: torch.Tensor, top_p: float) -> torch.Tensor:
    """The distribution top-p sampling must follow, by the definition: the most likely tokens, in
    falling order, until their mass reaches top_p; renormalised."""
    p, order = row.sort(descending=True)
    keep = int(((p.cumsum(0) - p) < top_p).sum())
    out = torch.zeros_like(row)
    out[order[:keep]] = p[:keep] / p[:keep].sum()
    return out


def test_top_p_draws_follow_the_nucleus_whether_or_not_it_lies_among_the_candidates():
    from inference.engine.serving.sampling import CANDIDATES, nucleus_draw

    vocab, grid = 4 * CANDIDATES, 4000
    gen = torch.Generator().manual_seed(2)
    peaked = torch.softmax(torch.randn(vocab, generator=gen) * 6, dim=0)  # nucleus within the candidates
    flat = torch.softmax(torch.randn(vocab, generator=gen) * 0.3, dim=0)  # nucleus wider than them
    assert peaked.topk(CANDIDATES).values.sum() >= 0.95 > flat.topk(CANDIDATES).values.sum()
    cases = [(peaked, 0.95), (flat, 0.95), (peaked, 0.5), (flat, 1.0), (peaked, 1.0)]
    probs = torch.stack([row for row, _ in cases])  # one batch: the rows take different paths
    top_ps = [top_p for _, top_p in cases]
    u = (torch.arange(grid) + 0.5) / grid  # every u in [0, 1): the draw's exact distribution
    counts = torch.zeros(len(cases), vocab)
    for k in range(grid):
        tokens = nucleus_draw(probs, top_ps, u[k].expand(len(cases)).contiguous())
        counts[torch.arange(len(cases)), tokens] += 1
    for i, (row, top_p) in enumerate(cases):
        expected = _nucleus(row, top_p) if top_p < 1 else row
        assert (counts[i] / grid - expected).abs().max() <= 2 / grid, (i, top_p)
        assert counts[i][expected == 0].sum() == 0  # nothing outside the nucleus, ever
