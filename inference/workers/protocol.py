"""What the web tier and the engine workers say to each other over the channel layer.

Channels (NS is settings.TIGER["WORKER_NAMESPACE"], so deployments or test runs can share one Redis):
- `NS.generate.<base>`: generation requests. A named channel: channels_redis hands each message to ONE
  receiver, so every worker serving the base competes for them. A worker only receives while it has a
  free batch row, so a busy worker leaves requests to an idle one and the overflow waits in Redis.
- `NS.control.<base>`: trainings and adapter creation (always received: they queue on the engine).
- a worker's inbox, for cancellations of the requests it owns, and one reply channel per request, made
  by the web process that sent it: both `channel_layer.new_channel()`, process-local channels with the
  DEFAULT prefix. channels_redis reads every process-local channel of a process through one blocking
  pop on "<prefix>.<process>!": a second prefix in one process (the websocket consumers use the
  default) would leave one of the two unread while the other waits.

Web -> `generate`/`control`: {"type": "generate"|"train"|"create_adapter", "id", "reply", "expires",
  "request": {...}} (a dataclass of inference.engine.types as a dict; create_adapter: "base", "spec",
  "dest_path"). A worker drops a request whose `expires` (epoch seconds) has passed: its sender gave up.
Web -> inbox: {"type": "cancel", "id"}.
Worker -> reply: first {"type": "accepted", "worker": <inbox>} or, for a generation, {"type": "error",
  "error": {...}} (an engine error raised before anything streamed); then {"type": "events", "events":
  [...]} up to the last event (generate), or one {"type": "result", "result": {...}} or {"type": "error"}
  (train, create_adapter); and {"type": "alive"} every HEARTBEAT_SECONDS while nothing else is sent.

Messages are msgpack'd by channels_redis, so everything here is plain dicts, lists, strings and numbers.
Never pickle: whoever can write to Redis must not be able to run code in a worker.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import re
import types
import typing

from inference.engine import errors
from inference.engine.types import Done, Failed, Finished, TextDelta

HEARTBEAT_SECONDS = 1.0  # a worker says "alive" this often for a request it has sent nothing else for
EVENTS = {cls.kind: cls for cls in (TextDelta, Finished, Done, Failed)}
_NAME = re.compile(r"^[a-zA-Z0-9\-_.]+$")  # what channels accepts in a channel name


def base_channel(namespace: str, kind: str, base: str) -> str:
    """The named channel for `kind` ("generate" or "control") requests on base model `base`."""
    if not _NAME.match(namespace):
        raise ValueError(f"TIGER_WORKER_NAMESPACE may only hold letters, digits, '-', '_' and '.': {namespace!r}")
    safe = re.sub(r"[^a-zA-Z0-9\-_.]", "_", base)
    if safe != base:  # keep two names that differ only in unsafe characters apart
        safe += "-" + hashlib.sha1(base.encode()).hexdigest()[:8]
    return f"{namespace}.{kind}.{safe}"


# -- dataclasses ------------------------------------------------------------------------------------

def encode(obj) -> dict:
    """A dataclass of inference.engine.types as a plain dict (tuples become lists on the wire)."""
    return dataclasses.asdict(obj)


def decode(cls, data: dict):
    """Rebuild `cls` from `encode`'s dict: nested dataclasses and tuples restored, unknown keys ignored
    (a newer sender may add fields), missing keys take the dataclass default."""
    hints = typing.get_type_hints(cls)
    values = {f.name: _value(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    return cls(**values)


def _value(hint, value):
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _value(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint):
        return decode(hint, value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_value(item, v) for v in value)
    return value


def decode_event(data: dict):
    """A generation event (TextDelta, Finished, Done or Failed) from its dict."""
    return decode(EVENTS[data["kind"]], data)


# -- errors -----------------------------------------------------------------------------------------

def _error_classes() -> dict[str, type[Exception]]:
    """The exceptions that cross the wire as themselves: the engine's errors (every subclass imported so
    far) and ValueError (invalid sampling parameters). Anything else arrives as a plain EngineError."""
    found: dict[str, type[Exception]] = {"ValueError": ValueError}
    pending = [errors.EngineError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending += cls.__subclasses__()
    return found


def encode_error(exc: BaseException) -> dict:
    """Type name, constructor arguments, message and API code: enough to raise the same error again."""
    init = type(exc).__init__
    if init in (BaseException.__init__, Exception.__init__):
        args = list(exc.args)
    else:  # e.g. ContextLengthExceeded(prompt_tokens, context_length): its numbers are attributes
        params = list(inspect.signature(init).parameters)[1:]
        args = [getattr(exc, p, None) for p in params]
    if not all(isinstance(a, (str, int, float, bool, type(None))) for a in args):
        args = [str(exc)]
    return {"name": type(exc).__name__, "args": args, "message": str(exc),
            "code": getattr(exc, "code", "engine_error")}


def decode_error(data: dict) -> Exception:
    """The exception `encode_error` described: the same type when it is known here, else an EngineError
    with the same message and code."""
    cls = _error_classes().get(data.get("name", ""))
    if cls is not None:
        try:
            return cls(*data.get("args", ()))
        except TypeError:
            pass
    error = errors.EngineError(data.get("message", "engine error"))
    error.code = data.get("code") or errors.EngineError.code
    return error
