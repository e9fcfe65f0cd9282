"""Fine-tuning datasets in OpenAI's JSONL formats: parse and validate every line, no torch.

Supervised: `{"messages": [{"role", "content", "weight"?}, ...]}`. The assistant messages are the
targets; `"weight": 0` makes one context only. At least one assistant message must have weight 1.
Preference (DPO): `{"input": {"messages": [...]}, "preferred_output": [{"role": "assistant",
"content"}], "non_preferred_output": [{...}]}`; the input ends with a user (or system) message.

A file is one kind: the kind of its first valid line decides, a line of the other kind is an error.
Errors name the line (1-based), the field (a JSON path) and why. The web side refuses a file with
any error; the engine gets the parsed examples.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

ROLES = ("system", "user", "assistant")
MAX_ERRORS_REPORTED = 5


@dataclass(frozen=True)
class SupervisedExample:
    """A conversation; `targets` marks which messages are trained (assistant messages of weight 1)."""

    messages: tuple[dict, ...]  # ({"role", "content"}, ...)
    targets: tuple[bool, ...]  # one per message


@dataclass(frozen=True)
class PreferenceExample:
    messages: tuple[dict, ...]  # the context
    preferred: str
    non_preferred: str


Example = SupervisedExample | PreferenceExample


@dataclass(frozen=True)
class LineError:
    line: int  # 1-based
    field: str  # JSON path within the line, "" for the line itself
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


class DatasetError(ValueError):
    """A file that cannot be used: its first errors, in line order."""

    def __init__(self, errors: list[LineError], total: int | None = None):
        self.errors = errors
        self.total = total if total is not None else len(errors)
        shown = "; ".join(str(e) for e in errors[:MAX_ERRORS_REPORTED])
        more = self.total - min(len(errors), MAX_ERRORS_REPORTED)
        super().__init__(shown + (f" (and {more} more)" if more > 0 else ""))


class _Bad(Exception):
    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason


def _message(raw, path: str, *, allow_weight: bool) -> tuple[dict, bool]:
    """A validated {"role", "content"} and whether it is a target."""
    if not isinstance(raw, dict):
        raise _Bad(path, "must be an object with role and content")
    role = raw.get("role")
    if role not in ROLES:
        raise _Bad(f"{path}.role", f"must be one of {', '.join(ROLES)} (got {json.dumps(role)[:40]})")
    content = raw.get("content")
    if not isinstance(content, str):
        raise _Bad(f"{path}.content", "must be a string")
    if not content.strip():
        raise _Bad(f"{path}.content", "is empty")
    extra = set(raw) - {"role", "content", "weight", "name"}
    if extra:
        raise _Bad(path, f"unknown field {sorted(extra)[0]!r}")
    weight = raw.get("weight", 1)
    if "weight" in raw:
        if not allow_weight or role != "assistant":
            raise _Bad(f"{path}.weight", "is only allowed on assistant messages of supervised examples")
        if weight not in (0, 1) or isinstance(weight, bool):
            raise _Bad(f"{path}.weight", "must be 0 or 1")
    return {"role": role, "content": content}, role == "assistant" and weight == 1


def _messages(raw, path: str, *, allow_weight: bool) -> tuple[list[dict], list[bool]]:
    if not isinstance(raw, list):
        raise _Bad(path, "must be a list of messages")
    if not raw:
        raise _Bad(path, "is empty")
    out, targets = [], []
    for i, m in enumerate(raw):
        message, target = _message(m, f"{path}[{i}]", allow_weight=allow_weight)
        out.append(message)
        targets.append(target)
    return out, targets


def _supervised(obj: dict) -> SupervisedExample:
    extra = set(obj) - {"messages", "tools", "parallel_tool_calls"}
    if extra:
        raise _Bad("", f"unknown field {sorted(extra)[0]!r} (a supervised example has 'messages')")
    messages, targets = _messages(obj.get("messages"), "messages", allow_weight=True)
    if not any(m["role"] == "user" for m in messages):
        raise _Bad("messages", "has no user message")
    if not any(targets):
        raise _Bad("messages", "has no assistant message to train on (every assistant message has weight 0, or there is none)")
    if messages[0]["role"] == "assistant":
        raise _Bad("messages[0].role", "the conversation cannot start with an assistant message")
    return SupervisedExample(tuple(messages), tuple(targets))


def _output(raw, path: str) -> str:
    if not isinstance(raw, list) or len(raw) != 1:
        raise _Bad(path, "must be a list of exactly one assistant message")
    message, _ = _message(raw[0], f"{path}[0]", allow_weight=False)
    if message["role"] != "assistant":
        raise _Bad(f"{path}[0].role", "must be assistant")
    return message["content"]


def _preference(obj: dict) -> PreferenceExample:
    extra = set(obj) - {"input", "preferred_output", "non_preferred_output"}
    if extra:
        raise _Bad("", f"unknown field {sorted(extra)[0]!r}")
    source = obj.get("input")
    if not isinstance(source, dict):
        raise _Bad("input", "must be an object with messages")
    messages, _ = _messages(source.get("messages"), "input.messages", allow_weight=False)
    if messages[-1]["role"] == "assistant":
        raise _Bad(f"input.messages[{len(messages) - 1}].role", "the input must end with a user or system message")
    for key in ("preferred_output", "non_preferred_output"):
        if key not in obj:
            raise _Bad(key, "is missing")
    preferred = _output(obj["preferred_output"], "preferred_output")
    non_preferred = _output(obj["non_preferred_output"], "non_preferred_output")
    if preferred == non_preferred:
        raise _Bad("non_preferred_output", "is the same text as preferred_output: nothing to prefer")
    return PreferenceExample(tuple(messages), preferred, non_preferred)


def parse_line(text: str, kind: str | None) -> tuple[Example, str]:
    """One non-empty line as (example, kind); raises _Bad."""
    try:
        obj = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not valid JSON")))
    except (ValueError, RecursionError) as e:
        raise _Bad("", f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise _Bad("", "must be a JSON object")
    line_kind = "preference" if ("input" in obj or "preferred_output" in obj) else "supervised"
    if "messages" not in obj and line_kind == "supervised":
        raise _Bad("", "has neither 'messages' (supervised) nor 'input' and 'preferred_output' (preference)")
    if kind is not None and line_kind != kind:
        raise _Bad("", f"is a {line_kind} example in a file of {kind} examples")
    return (_preference(obj) if line_kind == "preference" else _supervised(obj)), line_kind


def parse_jsonl(data: bytes, *, max_lines: int) -> tuple[str, list[Example]]:
    """(kind, examples) of a whole file; raises DatasetError naming the first bad lines.

    Blank lines are skipped (a trailing newline is common); the line numbers stay the file's."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DatasetError([LineError(line, "", f"not UTF-8 text (byte {e.start})")]) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if not any(line.strip() for line in lines):
        raise DatasetError([LineError(1, "", "the file is empty: one JSON example per line is expected")])
    kind: str | None = None
    examples: list[Example] = []
    errors: list[LineError] = []
    total_errors = 0
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        count += 1
        if count > max_lines:
            raise DatasetError([LineError(number, "", f"the file has more than {max_lines} examples (the limit)")])
        try:
            example, line_kind = parse_line(line, kind)
            kind = kind or line_kind
            examples.append(example)
        except _Bad as bad:
            total_errors += 1
            if len(errors) < MAX_ERRORS_REPORTED:
                errors.append(LineError(number, bad.field, bad.reason))
    if errors:
        raise DatasetError(errors, total_errors)
    assert kind is not None
    return kind, examples


def holdout_split(n: int, share: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) indices: a fixed, seeded `share` of n examples held out for validation,
    at least one when n >= 2 and share > 0, never all of them."""
    import random

    if n < 2 or share <= 0:
        return list(range(n)), []
    k = min(n - 1, max(1, round(n * share)))
    held = set(random.Random(seed).sample(range(n), k))
    return [i for i in range(n) if i not in held], sorted(held)
