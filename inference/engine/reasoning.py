"""Splitting a model's reasoning from its answer: one parser per model family behind a small registry.

DeepSeek-R1 thinks inside `<think>...</think>` before it answers. Its chat template ends the prompt
with `<think>\\n`, so the generated text usually holds only the closing tag: everything before
`</think>` is reasoning, everything after it the answer, and a text without `</think>` (cut off by
max_tokens, or still streaming) is all reasoning. That is how vLLM's `deepseek_r1` reasoning
parser reads it, and what OpenAI-style clients expect in `reasoning_content`.

Two entry points per parser, sharing one rule:
- `split(text)` for a whole text -> (reasoning, content);
- `stream()` -> a `ReasoningStream` that takes text deltas as they come and returns the
  (reasoning, content) pieces of each, holding back only what could still be the start of a tag.

Pure Python (no Django, no torch): the API, the Playground and the engine may all use it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ReasoningDelta:
    """The pieces of one streamed text delta ("" when a side got nothing)."""

    reasoning: str = ""
    content: str = ""


class ReasoningParser:
    """Think tags of one model family. Subclasses set the tags and whether thinking starts open."""

    start_tag = "<think>"
    end_tag = "</think>"
    # True when the prompt itself opens the thinking block (the text may lack the start tag).
    starts_in_reasoning = True

    def split(self, text: str) -> tuple[str | None, str]:
        """(reasoning, content) of a whole generated text; reasoning is None when there was none."""
        stream = self.stream()
        first = stream.feed(text)
        last = stream.flush()
        reasoning = first.reasoning + last.reasoning
        content = first.content + last.content
        return (reasoning if stream.saw_reasoning else None), content

    def stream(self) -> ReasoningStream:
        """An incremental parser for one generated text."""
        return ReasoningStream(self)


class ReasoningStream:
    """Feeds text deltas of one generation; returns the reasoning and content each one adds.

    States: before (a start tag may come, after optional whitespace) -> reasoning -> content. Text
    that could be the beginning of a tag is held back until the next delta (or `flush`) decides."""

    def __init__(self, parser: ReasoningParser):
        self._start = parser.start_tag
        self._end = parser.end_tag
        self._state = "reasoning" if parser.starts_in_reasoning else "before"
        self._held = ""
        self._fresh = True  # nothing consumed yet: a start tag here is the model repeating the prompt's
        self.saw_reasoning = parser.starts_in_reasoning

    @property
    def in_reasoning(self) -> bool:
        """True while the text seen so far is still inside the thinking block."""
        return self._state == "reasoning"

    def feed(self, text: str) -> ReasoningDelta:
        """The reasoning and content that `text` (appended to what came before) makes certain."""
        buffer = self._held + text
        self._held = ""
        reasoning, content = [], []
        while buffer:
            if self._state == "content":
                content.append(buffer)
                break
            if self._state == "before":
                stripped = buffer.lstrip()
                if not stripped:  # only whitespace so far: the tag may still come
                    self._held = buffer
                    break
                if stripped.startswith(self._start):
                    self._state, self.saw_reasoning, self._fresh = "reasoning", True, False
                    buffer = stripped[len(self._start):]
                    continue
                if self._start.startswith(stripped):  # a partial start tag
                    self._held = buffer
                    break
                self._state = "content"
                continue
            # reasoning: look for the end tag, keep back a suffix that may be its beginning
            # (and a start tag the model writes although the prompt opened the block)
            if self._fresh:
                if buffer.startswith(self._start):
                    buffer = buffer[len(self._start):]
                elif self._start.startswith(buffer):
                    self._held = buffer
                    break
                self._fresh = False
                continue
            at = buffer.find(self._end)
            if at >= 0:
                reasoning.append(buffer[:at])
                self._state = "content"
                buffer = buffer[at + len(self._end):]
                continue
            keep = _partial_suffix(buffer, self._end)
            reasoning.append(buffer[:len(buffer) - keep])
            self._held = buffer[len(buffer) - keep:]
            break
        return ReasoningDelta("".join(reasoning), "".join(content))

    def flush(self) -> ReasoningDelta:
        """At the end of the text: release what was held back (a partial tag is plain text)."""
        held, self._held = self._held, ""
        if not held:
            return ReasoningDelta()
        if self._state == "reasoning":
            return ReasoningDelta(reasoning=held)
        return ReasoningDelta(content=held)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class DeepSeekR1ReasoningParser(ReasoningParser):
    """DeepSeek-R1 and its distills: the prompt ends with `<think>\\n`; the answer follows `</think>`."""


# family name -> parser class. A base model's family is found by `parser_for`.
PARSERS: dict[str, type[ReasoningParser]] = {
    "deepseek_r1": DeepSeekR1ReasoningParser,
}
# Which family a model name belongs to: a lower-cased name containing the key picks the family.
FAMILIES: dict[str, str] = {
    "deepseek-r1": "deepseek_r1",
    "deepseek_r1": "deepseek_r1",
}


def register(family: str, parser: type[ReasoningParser], *name_parts: str) -> None:
    """Add a parser for a family, and the parts of model names that select it."""
    PARSERS[family] = parser
    for part in name_parts:
        FAMILIES[part.lower()] = family


def parser_for(model_name: str, family: str | None = None) -> ReasoningParser | None:
    """The reasoning parser of a base model (by explicit family, else by its name), or None."""
    if family is None:
        lowered = model_name.lower()
        family = next((f for part, f in FAMILIES.items() if part in lowered), None)
    factory: Callable[[], ReasoningParser] | None = PARSERS.get(family) if family else None
    return factory() if factory else None
