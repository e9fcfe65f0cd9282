"""An Engine in a child process, behind the same methods as Engine.

Why a process: the engine thread runs Python between its torch calls (for a small model, most of a
decode step), so any other Python thread of the same process — an ASGI server writing each token to
its socket — takes the GIL from it at every token. So the server keeps its event loop, the engine
thread owns a process of its own and writes each event straight to a pipe (bench/engine_process.py
measures the two side by side).

The child is `python -m inference.engine.process FD`: FD is its end of a socket pair; messages are
pickled (multiprocessing.connection framing). The parent sends tuples: ("init", bases, config, log
level), then (op, call id, args) requests. The child answers ("reply", call id, ok, value or error)
and streams ("event", request id, event), always as LISTS of such tuples: its engine thread only
appends them to an outbox, and after each loop iteration (a decode step) wakes a writer thread that
sends whatever piled up in one message (one pickle, one write), so decode steps never wait on the
pipe or on the parent's reading (a profile put 17 % of the engine thread in `Connection.send` with
one write per event; bench/engine_pipe.py). The
outbox is one FIFO for replies and events alike, so the parent sees them in the order the child
made them. No parent thread need wait for a reply: `submit_nowait` returns the future the reader
thread settles when the child's reply comes, and the web server's event loop awaits it directly
(runtime.EmbeddedRuntime), so a generation starts without a hop to a thread and back. The child
exits when the pipe closes (its parent is gone, even if it was SIGKILLed). If the child dies, open
requests get Failed, waiting calls raise EngineUnavailable, and the next call starts a new child.

Hold point (tests): with `engine_hold_after_first_token` armed (`failpoints.py`), a generation in
the child stops after its first text until its cancel reaches the child, so a test cancels a
generation that is certainly still running.
"""
from __future__ import annotations

import logging
import os
import pickle
import socket
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

from .config import EngineConfig
from .errors import EngineError, EngineUnavailable
from .failpoints import HOLD_LIMIT_S, taken
from .types import (TERMINAL_KINDS, AdapterRef, EventCallback, Failed, FineTuneRequest, GenerationRequest, LoraSpec,
                    TrainingRequest)

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CALL_TIMEOUT = 120.0  # seconds a synchronous call may take (loading a tokenizer, copying an adapter)


class EngineProcess:
    """The engine interface (interface.EngineInterface) served by a child process, started on first
    use. Methods are thread-safe; `on_event` callbacks run on a reader thread."""

    def __init__(self, bases: Mapping[str, str], config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self._paths = dict(bases)
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._closed = False

    @property
    def bases(self) -> list[str]:
        return list(self._paths)

    @property
    def pid(self) -> int | None:
        """The child's process id (None before it started)."""
        child = self._child
        return child.process.pid if child is not None else None

    def start(self, base: str) -> None:
        self._call("start", base)

    def is_ready(self, base: str) -> bool:
        return self._call("is_ready", base)

    def stats(self, base: str) -> dict:
        return self._call("stats", base)

    def context_length(self, base: str) -> int:
        return self._call("context_length", base)

    def count_prompt_tokens(self, base: str, messages: Sequence[dict]) -> int:
        return self._call("count_prompt_tokens", base, list(messages))

    def dataset_tokens(self, base: str, examples: Sequence) -> list[int]:
        return self._call("dataset_tokens", base, list(examples))

    def submit(self, req: GenerationRequest, on_event: EventCallback) -> None:
        """As Engine.submit: its errors (context too long, queue full, ...) raise here."""
        try:
            self.submit_nowait(req, on_event).result(CALL_TIMEOUT)
        except TimeoutError as e:
            self.cancel(req.request_id)
            raise EngineUnavailable(f"The engine process did not answer submit within {CALL_TIMEOUT:.0f} s") from e

    def submit_nowait(self, req: GenerationRequest, on_event: EventCallback) -> Future:
        """Send the request and return: the future resolves when the child's reply comes (on the
        reader thread), so an event loop awaits it without a thread of its own waiting on the pipe."""
        child = self._running_child()
        child.requests[req.request_id] = on_event  # before sending: events may beat the reply
        try:
            reply = child.call_async("submit", req)
        except BaseException:
            child.requests.pop(req.request_id, None)
            raise
        accepted: Future = Future()

        def settle(reply: Future) -> None:  # on the reader thread: a refused request is forgotten first
            error = reply.exception()
            if error is not None:
                child.requests.pop(req.request_id, None)
            try:
                accepted.set_result(None) if error is None else accepted.set_exception(error)
            except InvalidStateError:  # its caller cancelled it
                pass

        reply.add_done_callback(settle)
        return accepted

    def cancel(self, request_id: str) -> None:
        child = self._child
        if child is not None and request_id in child.requests:
            child.send(("cancel", None, (request_id,)))

    def create_adapter(self, base: str, spec: LoraSpec, dest_path: str, copy_from: AdapterRef | None = None) -> None:
        self._call("create_adapter", base, spec, dest_path, copy_from)

    def forget_adapter(self, base: str, key: str) -> None:
        self._call("forget_adapter", base, key)

    def train(self, req: TrainingRequest) -> Future:
        return self._running_child().call_async("train", req)

    def finetune(self, req: FineTuneRequest, on_event: Callable) -> Future:
        """As Engine.finetune; progress events come on the reader thread. If the child dies the
        future raises EngineUnavailable (and `on_event` gets a Failed event)."""
        child = self._running_child()
        child.requests[req.job_id] = on_event
        future = child.call_async("finetune", req)
        future.add_done_callback(lambda _: child.requests.pop(req.job_id, None))
        return future

    def cancel_finetune(self, job_id: str) -> bool:
        child = self._child
        return child is not None and child.alive and child.call("cancel_finetune", job_id)

    def shutdown(self, timeout: float | None = 30.0) -> None:
        """Stop the child (in-flight requests get Failed) and wait for it to exit."""
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is not None:
            child.stop(timeout)

    def _call(self, op: str, *args):
        return self._running_child().call(op, *args)

    def _running_child(self) -> _Child:
        with self._lock:
            if self._closed:
                raise EngineUnavailable("The engine is shutting down")
            if self._child is None or not self._child.alive:
                self._child = _Child.spawn(self._paths, self.config)
            return self._child


class _Child:
    """The parent's side of one child process: its pipe, the calls waiting for a reply, the open
    generations, and the thread that reads what the child sends."""

    def __init__(self, process: subprocess.Popen, conn: Connection):
        self.process = process
        self.conn = conn
        self.alive = True
        self.requests: dict[str, Callable] = {}
        self._calls: dict[int, Future] = {}
        self._next_id = 0
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="engine-process-reader", daemon=True)

    @classmethod
    def spawn(cls, bases: Mapping[str, str], config: EngineConfig) -> _Child:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            process = subprocess.Popen([sys.executable, "-m", "inference.engine.process", str(theirs.fileno())],
                                       pass_fds=(theirs.fileno(),), env=env)
        finally:
            theirs.close()
        child = cls(process, Connection(ours.detach()))
        child.send(("init", None, (dict(bases), config, logging.getLogger("inference").getEffectiveLevel())))
        child._reader.start()
        logger.info("engine process %d started", process.pid)
        return child

    def send(self, message: tuple) -> None:
        with self._send_lock:
            try:
                self.conn.send(message)
            except OSError as e:
                raise EngineUnavailable("The engine process is not running") from e

    def call_async(self, op: str, *args) -> Future:
        future: Future = Future()
        with self._send_lock:
            self._next_id += 1
            call_id = self._next_id
            self._calls[call_id] = future
        try:
            if not self.alive:
                raise EngineUnavailable("The engine process is not running")
            self.send((op, call_id, args))
        except BaseException:
            self._calls.pop(call_id, None)
            raise
        return future

    def call(self, op: str, *args):
        try:
            return self.call_async(op, *args).result(CALL_TIMEOUT)
        except TimeoutError as e:
            raise EngineUnavailable(f"The engine process did not answer {op} within {CALL_TIMEOUT:.0f} s") from e

    def stop(self, timeout: float | None) -> None:
        if self.alive:
            try:
                self.call_async("shutdown", timeout).result(None if timeout is None else timeout + 10)
            except Exception:  # already gone, or stuck: it is killed below
                pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)

    def _read(self) -> None:
        try:
            while True:
                for kind, key, *rest in self.conn.recv():  # what the child's writer sent at once
                    if kind == "event":
                        self._deliver(key, rest[0])
                    else:
                        ok, value = rest
                        future = self._calls.pop(key, None)
                        if future is not None and not future.done():  # a caller may have cancelled it
                            future.set_result(value) if ok else future.set_exception(value)
        except (EOFError, OSError):
            pass
        except Exception:
            logger.exception("reading from the engine process failed")
        self._died()

    def _deliver(self, request_id: str, event) -> None:
        on_event = self.requests.get(request_id)
        if event.kind in TERMINAL_KINDS:
            self.requests.pop(request_id, None)
        if on_event is None:
            return
        try:
            on_event(event)
        except Exception:
            logger.exception("an event callback of %s failed: cancelling it", request_id)
            if event.kind not in TERMINAL_KINDS:
                self.requests.pop(request_id, None)
                self.send(("cancel", None, (request_id,)))

    def _died(self) -> None:
        """The pipe closed: whatever waited on this child fails now, nothing hangs."""
        self.alive = False
        self.conn.close()
        with self._send_lock:
            calls, self._calls = self._calls, {}
        for future in calls.values():
            future.set_exception(EngineUnavailable("The engine process stopped; retry."))
        requests, self.requests = self.requests, {}
        for on_event in requests.values():
            try:
                on_event(Failed("The engine process stopped before the answer was complete; retry.",
                                code=EngineUnavailable.code))
            except Exception:
                logger.exception("an event callback failed")
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if code != 0:
            logger.error("the engine process %d exited with code %s", self.process.pid, code)


# -- the child ----------------------------------------------------------------------------------------

SYNC_OPS = frozenset({"start", "is_ready", "stats", "context_length", "count_prompt_tokens", "forget_adapter",
                      "cancel_finetune"})
SLOW_OPS = frozenset({"create_adapter", "dataset_tokens"})  # run off the command thread, so cancels are never held up


HOLD_POINT = "engine_hold_after_first_token"


class Outbox:
    """The child's messages to the parent, in one FIFO, sent by a writer thread: `put` never blocks.

    The engine thread puts a decode step's events quietly (`flush=False`: no wake-up per event) and
    flushes once after the step (`Engine(after_step=...)`); every other message flushes at once. The
    writer then sends everything queued as one list."""

    def __init__(self, conn: Connection):
        self._conn = conn
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._items: list[tuple] = []
        self._flush = False  # something queued is due: wake (or keep) the writer
        self._closing = False
        self._writer = threading.Thread(target=self._write, name="engine-process-writer", daemon=True)
        self._writer.start()

    def put(self, message: tuple, *, flush: bool = True) -> None:
        with self._lock:
            self._items.append(message)
            if flush and not self._flush:
                self._flush = True
                self._ready.notify()

    def flush(self) -> None:
        with self._lock:
            if self._items and not self._flush:
                self._flush = True
                self._ready.notify()

    def close(self) -> None:
        """Send what is queued, then stop the writer."""
        with self._lock:
            self._closing = self._flush = True
            self._ready.notify()
        self._writer.join()

    def _write(self) -> None:
        broken = False
        while True:
            with self._lock:
                while not self._flush:
                    self._ready.wait()
                batch, self._items, self._flush = self._items, [], False
                closing = self._closing
            if batch and not broken:
                try:
                    self._conn.send(batch)
                except OSError:  # the parent is gone: the command loop sees the pipe close and stops
                    broken = True
            if closing:
                return


class _Holds:
    """The hold point: generations waiting after their first text for their cancel to arrive."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Event] = {}
        self._cancelled: set[str] = set()

    def after_first_text(self, request_id: str, send: Callable[[], None]) -> None:
        """Send the first text, then wait (the engine thread) until `cancelled(request_id)`."""
        released = threading.Event()
        with self._lock:  # registered before the text leaves: its cancel cannot come earlier
            self._waiting[request_id] = released
        send()
        released.wait(HOLD_LIMIT_S)
        with self._lock:
            self._waiting.pop(request_id, None)

    def cancelled(self, request_id: str) -> None:
        with self._lock:
            released = self._waiting.get(request_id)
        if released is not None:
            released.set()


def _serve(conn: Connection) -> None:
    from .serving.engine import Engine  # torch loads here, in the child only

    op, _, (bases, config, log_level) = conn.recv()
    assert op == "init", op
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    outbox = Outbox(conn)
    engine = Engine(bases, config, after_step=outbox.flush)
    send = outbox.put
    holds = _Holds()

    def stream_to(request_id: str) -> Callable:
        def on_event(event) -> None:  # on the engine thread: sent with the rest of its step
            send(("event", request_id, event), flush=False)

        first_text = True

        def on_event_held(event) -> None:  # the hold point's check, until the first text
            nonlocal first_text
            if first_text and event.kind == "delta" and event.text:
                first_text = False
                if taken(HOLD_POINT):
                    holds.after_first_text(request_id, lambda: send(("event", request_id, event)))
                    return
            on_event(event)

        return on_event_held

    def reply(call_id: int, fn: Callable, *args) -> None:
        try:
            value, ok = fn(*args), True
        except Exception as e:
            value, ok = _portable(e), False
        send(("reply", call_id, ok, value))

    def reply_future(call_id: int, future: Future) -> None:
        error = future.exception()
        send(("reply", call_id, error is None, _portable(error) if error else future.result()))

    slow = ThreadPoolExecutor(2, thread_name_prefix="engine-process-slow")
    try:
        while True:
            try:
                op, call_id, args = conn.recv()
            except (EOFError, OSError):
                break  # the parent is gone
            if op == "cancel":
                engine.cancel(*args)
                holds.cancelled(*args)  # after engine.cancel: the held generation resumes cancelled
            elif op == "shutdown":
                reply(call_id, engine.shutdown, *args)
                break
            elif op == "train":
                try:
                    engine.train(*args).add_done_callback(lambda f, call_id=call_id: reply_future(call_id, f))
                except Exception as e:
                    send(("reply", call_id, False, _portable(e)))
            elif op == "finetune":
                try:
                    engine.finetune(args[0], lambda event, job_id=args[0].job_id: send(("event", job_id, event),
                                                                                       flush=False)
                                    ).add_done_callback(lambda f, call_id=call_id: reply_future(call_id, f))
                except Exception as e:
                    send(("reply", call_id, False, _portable(e)))
            elif op == "submit":
                reply(call_id, engine.submit, args[0], stream_to(args[0].request_id))
            elif op in SLOW_OPS:
                slow.submit(reply, call_id, getattr(engine, op), *args)
            elif op in SYNC_OPS:
                reply(call_id, getattr(engine, op), *args)
            else:
                send(("reply", call_id, False, EngineError(f"unknown engine operation {op!r}")))
    finally:
        engine.shutdown(5.0)
        slow.shutdown(wait=True)
        outbox.close()
        conn.close()


def _portable(error: BaseException) -> BaseException:
    """The error itself if it survives pickling, else an EngineError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return EngineError(f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
