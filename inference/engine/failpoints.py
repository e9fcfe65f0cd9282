"""Named crash and hold points for the tests (a "failpoint", as in FreeBSD, TiKV, etcd).

`TIGER_FAILPOINTS=after_revision_write` makes the process SIGKILL itself when it reaches
`failpoint("after_revision_write")`: the test then restarts the server and checks what survived.
A process that the test cannot restart with other settings (a Ray Serve replica, which Serve restarts
with the same environment) is armed once instead: with TIGER_FAILPOINT_DIR set, a file of the point's
name in that directory fires it, and the process that fires it removes the file first, so only one does.

A hold point (`taken` + waiting until a cancel) gives a test a state it controls instead of a race
against the model: a generation armed there stops after its first token until its reader cancels
it. Unset (always, outside those tests) each check costs a dictionary lookup.

Here, in the engine (no Django, nothing but the standard library), because the engine's child
process has hold points of its own (process.py); tigercity/failpoints.py adds the asyncio hold of the
web side and is what the rest of the project imports.
"""
import os
import signal

HOLD_LIMIT_S = 600.0  # a leak guard only: an armed hold that nobody cancels lets its generation go on


def taken(name: str) -> bool:
    """Whether the point `name` is armed for this process (a file that arms it is used up)."""
    armed = os.environ.get("TIGER_FAILPOINTS", "")
    if armed and name in armed.split(","):
        return True
    directory = os.environ.get("TIGER_FAILPOINT_DIR", "")
    if directory:
        try:
            os.remove(os.path.join(directory, name))
        except FileNotFoundError:
            return False
        return True
    return False


def failpoint(name: str) -> None:
    """SIGKILL this process here when `name` is armed."""
    if taken(name):
        os.kill(os.getpid(), signal.SIGKILL)
