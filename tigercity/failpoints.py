"""Named crash and hold points for the tests: `taken` and `failpoint` (inference/engine/failpoints.py,
where the mechanism and its environment variables are described) and the web side's hold.

A hold point gives a test a state it controls instead of a race against the model: a generation
armed there stops after its first token until its reader cancels it, so "Stop while it is still
answering" does not depend on how long the tiny model's answer is or how fast the machine is.
"""
import asyncio

from inference.engine.failpoints import HOLD_LIMIT_S, failpoint, taken

RELEASE_POLL_S = 0.05  # how often a held task looks for its release (a file the test writes)

__all__ = ["HOLD_LIMIT_S", "failpoint", "hold", "taken"]


async def hold(release: str = "") -> None:
    """Wait here until the surrounding task is cancelled (a taken hold point), or until the point `release`
    is armed: then the held work goes on (a test that checks what happens after the hold, not just Stop)."""
    if not release:
        await asyncio.sleep(HOLD_LIMIT_S)
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HOLD_LIMIT_S
    while loop.time() < deadline and not taken(release):
        await asyncio.sleep(RELEASE_POLL_S)
