"""Streaming text out of token ids: incremental detokenisation and stop strings."""
from __future__ import annotations

from collections.abc import Sequence

_DECODE = {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}
REPLACEMENT = "\ufffd"  # what decode makes of an incomplete UTF-8 sequence


class IncrementalDetokenizer:
    """Text of a growing list of token ids, one token at a time.

    Byte-level BPE splits a character over several tokens: text is held back while the decoded
    tail is an incomplete UTF-8 sequence. Each push decodes only a short window (the previous
    piece plus the new tokens), so a long completion costs O(1) per token, not O(n)."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # window start: the previously emitted piece gives the decoder context
        self._read = 0  # ids before this are emitted

    def push(self, token_id: int) -> str:
        """Add one token; return the text it completes ("" while a character is incomplete)."""
        self._ids.append(token_id)
        prefix_text = self._decode(self._prefix, self._read)
        text = self._decode(self._prefix, len(self._ids))
        if len(text) <= len(prefix_text) or text.endswith(REPLACEMENT):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return text[len(prefix_text):]

    def flush(self) -> str:
        """Whatever is held back, even an incomplete character (the sequence has ended)."""
        prefix_text = self._decode(self._prefix, self._read)
        text = self._decode(self._prefix, len(self._ids))
        self._prefix = self._read = len(self._ids)
        return text[len(prefix_text):]

    def _decode(self, start: int, end: int) -> str:
        return self._tokenizer.decode(self._ids[start:end], **_DECODE) if end > start else ""


class StopStrings:
    """Cuts a text stream at the first stop string.

    Text that could be the start of a stop string is held back until the next piece decides, so
    no part of a stop string is ever emitted; `flush` releases it when the stream ends otherwise."""

    def __init__(self, stops: Sequence[str]):
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to emit, whether a stop string was reached)."""
        pending = self._held + text
        if not self._stops:
            return pending, False
        hits = [i for i in (pending.find(s) for s in self._stops) if i >= 0]
        if hits:
            self._held = ""
            return pending[: min(hits)], True
        keep = self._partial_suffix(pending)
        self._held = pending[len(pending) - keep:]
        return pending[: len(pending) - keep], False

    def flush(self) -> str:
        """The held-back text (no stop string followed it)."""
        held, self._held = self._held, ""
        return held

    def _partial_suffix(self, text: str) -> int:
        """Length of the longest tail of `text` that is a proper prefix of some stop string."""
        longest = min(len(text), max(len(s) for s in self._stops) - 1)
        for n in range(longest, 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self._stops):
                return n
        return 0
