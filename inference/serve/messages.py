"""What a replica's streams carry besides the engine's own events (plain, picklable, no Ray)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accepted:
    """The first item of every stream: a replica took the request (the caller stops waiting for one)."""

    replica: str  # Serve's replica id
    pid: int


@dataclass(frozen=True)
class Raised:
    """An engine error, raised again as itself by the caller (context too long, queue full, ...)."""

    error: BaseException


def model_id(key: str, revision: int) -> str:
    """The multiplexed model id of one revision of a user model: a new revision is a new id, so a replica
    that holds an older one is no reason to route there."""
    return f"{key}@{revision}"
