"""The reasoning parsers: whole-text split and streaming agree, for every way of cutting the text."""
import random

import pytest

from inference.engine.reasoning import (
    DeepSeekR1ReasoningParser,
    ReasoningParser,
    parser_for,
)

CASES = [
    # (generated text, reasoning, content)
    ("Let me think.\n</think>\n\nThe answer is 4.", "Let me think.\n", "\n\nThe answer is 4."),
    ("<think>Hmm.</think>Paris", "Hmm.", "Paris"),
    ("still thinking when max_tokens hit", "still thinking when max_tokens hit", ""),
    ("</think>only an answer", "", "only an answer"),
    ("a < b and </thin is not a tag</think>ok <think> stays", "a < b and </thin is not a tag", "ok <think> stays"),
    ("ends on a partial tag </thi", "ends on a partial tag </thi", ""),
    ("", "", ""),
]


def _stream(parser, pieces):
    stream = parser.stream()
    reasoning, content = [], []
    for piece in pieces + [None]:
        delta = stream.feed(piece) if piece is not None else stream.flush()
        reasoning.append(delta.reasoning)
        content.append(delta.content)
    return "".join(reasoning), "".join(content)


@pytest.mark.parametrize("text,reasoning,content", CASES)
def test_whole_text_split_matches_the_deepseek_r1_rule(text, reasoning, content):
    assert DeepSeekR1ReasoningParser().split(text) == (reasoning, content)


@pytest.mark.parametrize("text,reasoning,content", CASES)
def test_streaming_gives_the_same_split_however_the_text_is_cut(text, reasoning, content):
    parser = DeepSeekR1ReasoningParser()
    rng = random.Random(text)
    cuttings = [[text], list(text)]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 6)))) if len(text) > 1 else []
        cuttings.append([text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])])
    for pieces in cuttings:
        assert _stream(parser, pieces) == (reasoning, content), pieces


def test_a_streamed_tag_is_never_leaked_as_text():
    stream = DeepSeekR1ReasoningParser().stream()
    assert stream.feed("step one </th").reasoning == "step one "
    assert stream.in_reasoning
    delta = stream.feed("ink>Done")
    assert (delta.reasoning, delta.content) == ("", "Done")
    assert not stream.in_reasoning


class OptionalThinking(ReasoningParser):
    starts_in_reasoning = False


def test_a_family_whose_prompt_does_not_open_the_block_reads_untagged_text_as_content():
    parser = OptionalThinking()
    assert parser.split("no thinking here") == (None, "no thinking here")
    assert parser.split("  <think>why</think>because") == ("why", "because")
    assert _stream(parser, [" ", " <thi", "nk>why</th", "ink>because"]) == ("why", "because")


def test_the_registry_picks_a_parser_by_model_family():
    assert isinstance(parser_for("DeepSeek-R1-8b"), DeepSeekR1ReasoningParser)
    assert isinstance(parser_for("my-checkpoint", family="deepseek_r1"), DeepSeekR1ReasoningParser)
    assert parser_for("Llama-3.1-8b") is None
