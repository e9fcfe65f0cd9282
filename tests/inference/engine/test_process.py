"""The engine in a child process (inference/engine/process.py) behaves as the Engine it wraps."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from inference.engine.config import EngineConfig
from inference.engine.serving.engine import Engine
from inference.engine.errors import ContextLengthExceeded, EngineUnavailable, QueueFull, UnknownBaseModel
from inference.engine.process import HOLD_POINT, EngineProcess
from inference.engine.types import LoraSpec, TrainingGroup, TrainingParams, TrainingRequest

from .conftest import Stream, request
from .tiny import BASE, CONTEXT


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from .tiny import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("process") / "tiny-llama")


@pytest.fixture(scope="module")
def remote(checkpoint):
    engine = EngineProcess({BASE: str(checkpoint)}, EngineConfig(device="cpu", cpu_threads=1))
    yield engine
    engine.shutdown()


def submit(engine, **kw) -> Stream:
    stream = Stream()
    engine.submit(request(**kw), stream)
    return stream.wait()


def test_a_generation_streams_the_same_events_as_the_engine_in_this_process(remote, checkpoint):
    local = Engine({BASE: str(checkpoint)}, EngineConfig(device="cpu", cpu_threads=1))
    try:
        expected = submit(local, request_id="here", max_tokens=9, temperature=1.0, seed=5, n=2)
        messages = [{"role": "user", "content": "How many tokens is this?"}]
        expected_count = local.count_prompt_tokens(BASE, messages)
    finally:
        local.shutdown()
    got = submit(remote, request_id="there", max_tokens=9, temperature=1.0, seed=5, n=2)
    assert got.events == expected.events
    assert remote.count_prompt_tokens(BASE, messages) == expected_count > 0
    assert got.text(0) and got.last.kind == "done" and got.last.completion_tokens == 18
    assert remote.pid != os.getpid() and remote.is_ready(BASE) and remote.stats(BASE)["open_requests"] == 0


def test_concurrent_generations_each_get_their_own_events(remote, checkpoint):
    local = Engine({BASE: str(checkpoint)}, EngineConfig(device="cpu", cpu_threads=1))
    try:
        expected = [submit(local, request_id=f"l{i}", max_tokens=6 + i, temperature=1.0, seed=i).events
                    for i in range(4)]
    finally:
        local.shutdown()
    streams = [Stream() for _ in range(4)]
    for i, stream in enumerate(streams):  # all open at once: their events interleave on the pipe
        remote.submit(request(request_id=f"c{i}", max_tokens=6 + i, temperature=1.0, seed=i), stream)
    assert [s.wait().events for s in streams] == expected


def test_engine_errors_cross_the_pipe_with_their_numbers(remote):
    with pytest.raises(ContextLengthExceeded) as info:
        remote.submit(request("x" * 300), Stream())
    assert info.value.context_length == CONTEXT and info.value.prompt_tokens > CONTEXT
    with pytest.raises(UnknownBaseModel):
        remote.context_length("no-such-base")
    with pytest.raises(ValueError, match="max_tokens"):
        remote.submit(request(max_tokens=0), Stream())


def test_submit_nowait_settles_its_future_from_the_childs_reply(remote):
    """Accepted: the future resolves and the events stream; refused: the future raises what submit
    would have raised, the callback gets nothing, and the request is forgotten."""
    stream = Stream()
    accepted = remote.submit_nowait(request(request_id="nowait", max_tokens=4), stream)
    assert accepted.result(30) is None
    assert stream.wait().last.kind == "done"
    refused_stream = Stream()
    refused = remote.submit_nowait(request("x" * 300, request_id="nowait-long"), refused_stream)
    with pytest.raises(ContextLengthExceeded) as info:
        refused.result(30)
    assert info.value.context_length == CONTEXT
    assert refused_stream.events == [] and "nowait-long" not in remote._child.requests


def test_queue_full_crosses_the_pipe_with_its_numbers(checkpoint):
    engine = EngineProcess({BASE: str(checkpoint)}, EngineConfig(device="cpu", cpu_threads=1, max_queue=0))
    try:
        with pytest.raises(QueueFull) as info:
            engine.submit(request(request_id="a"), Stream())
        assert (info.value.waiting, info.value.limit) == (0, 0)
    finally:
        engine.shutdown()


def test_cancel_stops_a_running_generation(checkpoint, monkeypatch):
    # Held in the child after its first text until the cancel arrives (the hold point of process.py):
    # the cancel always meets a running generation, however fast the tiny model would have finished.
    monkeypatch.setenv("TIGER_FAILPOINTS", HOLD_POINT)
    engine = EngineProcess({BASE: str(checkpoint)}, EngineConfig(device="cpu", cpu_threads=1))
    try:
        stream = Stream()
        first_text = threading.Event()
        engine.submit(request(request_id="long", max_tokens=CONTEXT - 20, temperature=1.0, seed=1),
                      lambda event: (stream(event), event.kind == "delta" and event.text and first_text.set()))
        assert first_text.wait(30)
        engine.cancel("long")
        stream.wait()
        assert stream.finished().finish_reason == "cancelled"
        assert stream.last.kind == "done" and stream.last.completion_tokens < CONTEXT - 20
    finally:
        engine.shutdown()


def test_the_childs_writer_never_blocks_the_engine_and_sends_what_piled_up_in_one_message():
    from inference.engine import process

    class SlowPipe:
        """A pipe whose first write blocks until released (a parent busy elsewhere)."""

        def __init__(self):
            self.sent, self.writing, self.release = [], threading.Event(), threading.Event()

        def send(self, batch):
            self.writing.set()
            assert self.release.wait(30)
            self.sent.append(batch)

    pipe = SlowPipe()
    outbox = process.Outbox(pipe)
    outbox.put(("event", "a", 1))
    assert pipe.writing.wait(30)  # the writer is stuck in its first write...
    for i in range(2, 5):
        outbox.put(("event", "a", i), flush=False)  # ...and putting does not wait for it
    outbox.put(("reply", 7, True, None))  # flushes what was put before it, in order
    pipe.release.set()
    outbox.close()
    assert pipe.sent == [[("event", "a", 1)], [("event", "a", 2), ("event", "a", 3), ("event", "a", 4),
                                               ("reply", 7, True, None)]]


def test_adapters_are_created_and_trained_in_the_child(remote, tmp_path):
    spec = LoraSpec(rank=4, alpha=8, dropout=0.0)
    remote.create_adapter(BASE, spec, str(tmp_path / "rev0"))
    assert (tmp_path / "rev0" / "adapter_config.json").is_file()
    from inference.engine.types import AdapterRef

    group = TrainingGroup(messages=({"role": "user", "content": "Hi"},), responses=("yes", "no"), rewards=(1.0, 0.0))
    result = remote.train(TrainingRequest(
        request_id="t", base=BASE, source=AdapterRef(key="m", revision=0, path=str(tmp_path / "rev0")),
        dest_revision=1, dest_path=str(tmp_path / "rev1"), groups=(group,),
        params=TrainingParams(learning_rate=1e-2, learning_steps=2), lora=spec)).result(60)
    assert result.changed and (tmp_path / "rev1" / "adapter_config.json").is_file()


def test_a_killed_child_fails_what_was_open_and_the_next_call_starts_a_new_one(checkpoint):
    engine = EngineProcess({BASE: str(checkpoint)}, EngineConfig(device="cpu", cpu_threads=1))
    try:
        stream = Stream()
        engine.submit(request(request_id="doomed", max_tokens=CONTEXT - 20, temperature=1.0, seed=2), stream)
        first = engine.pid
        os.kill(first, signal.SIGKILL)
        stream.wait()
        assert stream.last.kind == "failed" and stream.last.code == EngineUnavailable.code
        assert submit(engine, request_id="after", max_tokens=3).last.kind == "done"
        assert engine.pid != first
    finally:
        engine.shutdown()


PARENT = """
import sys
from inference.engine.config import EngineConfig
from inference.engine.process import HOLD_POINT, EngineProcess
engine = EngineProcess({"tiny": sys.argv[1]}, EngineConfig(device="cpu", cpu_threads=1))
engine.is_ready("tiny")
print(engine.pid, flush=True)
sys.stdin.read()
"""


def test_the_child_exits_when_its_parent_is_killed(checkpoint):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(checkpoint)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_shutdown_fails_open_requests_and_refuses_new_ones(checkpoint):
    engine = EngineProcess({BASE: str(checkpoint)}, EngineConfig(device="cpu", cpu_threads=1))
    stream = Stream()
    engine.submit(request(request_id="cut", max_tokens=CONTEXT - 20, temperature=1.0, seed=3), stream)
    stopper = threading.Thread(target=engine.shutdown)
    stopper.start()
    stream.wait()
    stopper.join(30)
    assert stream.last.kind in ("failed", "done")
    with pytest.raises(EngineUnavailable):
        engine.submit(request(request_id="late"), Stream())
