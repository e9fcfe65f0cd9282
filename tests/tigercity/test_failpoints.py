"""Failpoints armed by a file fire once: the first process to reach them removes the file."""
import os
import signal

from tigercity.failpoints import failpoint


def test_a_failpoint_armed_by_a_file_fires_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TIGER_FAILPOINT_DIR", str(tmp_path))
    kills = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    failpoint("replica_mid_stream")
    assert kills == []
    (tmp_path / "replica_mid_stream").touch()
    failpoint("replica_mid_stream")
    failpoint("replica_mid_stream")
    assert kills == [(os.getpid(), signal.SIGKILL)] and not (tmp_path / "replica_mid_stream").exists()


def test_a_hold_point_armed_by_a_file_holds_one_stream_after_its_first_token_until_it_is_cancelled(tmp_path, monkeypatch):
    import asyncio

    from inference.engine.types import Done, TextDelta
    from inference.stream import HOLD_POINT, GenerationStream

    monkeypatch.setenv("TIGER_FAILPOINT_DIR", str(tmp_path))

    async def read(stream, seen):
        async for event in stream:
            seen.append(event.kind)

    async def main():
        loop = asyncio.get_running_loop()
        outcomes = []
        for armed in (True, False):  # the file arms only the first stream that reaches the point
            if armed:
                (tmp_path / HOLD_POINT).touch()
            stream, seen = GenerationStream("r", loop, cancel=lambda: None), []
            for event in (TextDelta(0, ""), TextDelta(0, "Hi"), TextDelta(0, " there"),
                          Done(prompt_tokens=1, completion_tokens=2)):
                stream.push(event)
            reader = asyncio.create_task(read(stream, seen))
            if armed:
                while len(seen) < 2:  # the event loop is this one thread: each turn lets the reader on
                    await asyncio.sleep(0)
                for _ in range(100):
                    await asyncio.sleep(0)
                assert not reader.done() and stream._queue.qsize() == 2  # held: the rest is not read
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            else:
                await reader
            outcomes.append(seen)
        return outcomes

    held, free = asyncio.run(main())
    assert held == ["delta", "delta"] and free == ["delta", "delta", "delta", "done"]
    assert not (tmp_path / HOLD_POINT).exists()


def test_a_held_stream_goes_on_when_its_release_point_is_armed(tmp_path, monkeypatch):
    import asyncio

    from inference.engine.types import Done, TextDelta
    from inference.stream import HOLD_POINT, RELEASE_POINT, GenerationStream

    monkeypatch.setenv("TIGER_FAILPOINT_DIR", str(tmp_path))

    async def main():
        (tmp_path / HOLD_POINT).touch()
        stream, seen = GenerationStream("r", asyncio.get_running_loop(), cancel=lambda: None), []
        for event in (TextDelta(0, "Hi"), TextDelta(0, " there"), Done(prompt_tokens=1, completion_tokens=2)):
            stream.push(event)

        async def read():
            async for event in stream:
                seen.append(event.kind)

        reader = asyncio.create_task(read())
        while not seen:
            await asyncio.sleep(0)
        for _ in range(100):
            await asyncio.sleep(0)
        assert seen == ["delta"] and not reader.done()  # held
        (tmp_path / RELEASE_POINT).touch()
        await asyncio.wait_for(reader, timeout=30)  # released: the rest is read, nothing cancelled
        assert seen == ["delta", "delta", "done"] and not (tmp_path / RELEASE_POINT).exists()

    asyncio.run(main())
