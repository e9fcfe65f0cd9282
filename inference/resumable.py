"""Generations on the Playground's websocket that outlive their socket, so that a reloaded page picks them up.

A generation started with a `resume` key (the chat uses "chat-<conversation id>") is not cancelled when its
socket closes: it goes on, its frames kept, under (user, key). A socket of the same user that sends
{"type": "attach", "resume": key} gets every frame so far, then the rest as they come, tagged with its own id.
Another page attaching takes the generation over: the page that had it gets an error frame saying so.

Kept in this process's memory (like the concurrent-generation limit): a page that reloads onto another web
process finds nothing and marks the answer interrupted, as before. A generation nobody reattaches to runs
to its end (max_tokens bounds it), and its frames are forgotten KEEP_FINISHED_S after it ended.
"""
from __future__ import annotations

import asyncio
import re
from typing import Protocol

from inference.wire_formats import frames

KEEP_FINISHED_S = 120.0  # a page reloaded just as its answer ended still gets it
# Generations one user has under resume keys (running or ended): running ones are bounded by the
# concurrent-generation limit, ended ones were not (a 1-token generation under a new key, socket closed,
# over and over, each kept with its frames for KEEP_FINISHED_S). Keeping one more forgets the oldest.
MAX_KEPT_PER_USER = 32
KEY_PATTERN = re.compile(r"^[A-Za-z0-9:_-]{1,64}$")
TAKEN_OVER = {"message": "This answer goes on in another page of this conversation.", "type": "invalid_request_error",
              "code": "resumed_elsewhere", "param": None}


class Follower(Protocol):
    """A socket following generations (inference/consumers.ChatConsumer): frames go to send_json; `running`
    maps its client ids to the relays it follows."""

    running: dict

    async def send_json(self, content: dict) -> None: ...


_resumable: dict[int, dict[str, "Relay"]] = {}  # user id -> resume key -> relay, oldest kept first


class Relay:
    """One generation's frames on their way to the socket that follows it (none while it is detached)."""

    def __init__(self, *, user_id: int, resume: str, start: dict):
        self.user_id = user_id
        self.resume = resume  # "" for a generation that ends with its socket
        self.start = start  # the "start" frame, replayed to a page that attaches
        self.frames: list[dict] = []  # kept only when resumable
        self.follower: Follower | None = None
        self.client_id = ""
        self.task: asyncio.Task | None = None
        self.stopped_by_client = False
        self.finished = False
        self._lock = asyncio.Lock()  # a replay and a new frame never interleave

    async def follow(self, follower: Follower, client_id: str, *, replay: bool) -> None:
        """Send this generation's frames to `follower` under `client_id` from now on, after those so far when
        `replay`. A page that followed it until now is told that another one took it over."""
        async with self._lock:
            previous, previous_id = self.follower, self.client_id
            self.follower, self.client_id = None, client_id
            if previous is not None and previous.running.get(previous_id) is self:
                del previous.running[previous_id]
                await previous.send_json({"type": "error", "id": previous_id, "error": TAKEN_OVER})
            if replay:
                for frame in [self.start, *self.frames]:
                    await follower.send_json({**frame, "id": client_id})
            if self.finished:  # replayed to its end: nothing runs for this page, and nothing is left to resume
                _forget(self)
                return
            self.follower = follower
            follower.running[client_id] = self

    def detach(self) -> None:
        """Its socket closed: go on without it when resumable, else stop."""
        self.follower = None
        if not self.resume:
            self.cancel(by_client=False)

    def cancel(self, *, by_client: bool) -> None:
        self.stopped_by_client = by_client
        if self.task is not None:
            self.task.cancel()

    async def emit(self, frame: dict) -> None:
        async with self._lock:
            if self.resume:
                self.frames.append(frame)
            if self.follower is not None:
                await self.follower.send_json({**frame, "id": self.client_id})

    async def run(self, generation, wire) -> None:
        """Relay `generation` in `wire`'s frames; it is closed however this ends (even cancelled before
        its first frame)."""
        try:
            async for frame in frames(generation, wire):
                await self.emit(frame)
        except asyncio.CancelledError:
            if self.stopped_by_client:
                await self.emit({"type": "cancelled"})
            raise
        finally:
            generation.close()
            self.finished = True
            follower = self.follower
            if follower is not None and follower.running.get(self.client_id) is self:
                del follower.running[self.client_id]
            _forget_later(self)


def keep(relay: Relay) -> None:
    """Make `relay` findable by its user and key (a newer generation under the same key replaces it); past
    MAX_KEPT_PER_USER the user's oldest is forgotten (one still running goes on for the page following it)."""
    mine = _resumable.setdefault(relay.user_id, {})
    mine.pop(relay.resume, None)
    mine[relay.resume] = relay
    while len(mine) > MAX_KEPT_PER_USER:
        del mine[next(iter(mine))]


def find(*, user_id: int, resume: str) -> Relay | None:
    return _resumable.get(user_id, {}).get(resume)


def kept(user_id: int) -> int:
    """How many generations `user_id` has under resume keys in this process."""
    return len(_resumable.get(user_id, {}))


def _forget(relay: Relay) -> None:
    mine = _resumable.get(relay.user_id, {})
    if mine.get(relay.resume) is relay:
        del mine[relay.resume]
        if not mine:
            del _resumable[relay.user_id]


def _forget_later(relay: Relay) -> None:
    if relay.follower is not None:  # the page following it saw the end: nothing left to resume
        _forget(relay)
    else:
        asyncio.get_running_loop().call_later(KEEP_FINISHED_S, _forget, relay)
