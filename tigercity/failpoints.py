"""Named crash points for the crash tests (a "failpoint", as in FreeBSD, TiKV, etcd).

`TIGER_FAILPOINTS=after_revision_write` makes the process SIGKILL itself when it reaches
`failpoint("after_revision_write")`: the test then restarts the server and checks what survived.
A process that the test cannot restart with other settings (a Ray Serve replica, which Serve restarts
with the same environment) is armed once instead: with TIGER_FAILPOINT_DIR set, a file of the point's
name in that directory fires it, and the process that fires it removes the file first, so only one does.
Unset (always, outside those tests) it costs one dictionary lookup.
"""
import os
import signal


def failpoint(name: str) -> None:
    armed = os.environ.get("TIGER_FAILPOINTS", "")
    if armed and name in armed.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
    directory = os.environ.get("TIGER_FAILPOINT_DIR", "")
    if directory:
        try:
            os.remove(os.path.join(directory, name))
        except FileNotFoundError:
            return
        os.kill(os.getpid(), signal.SIGKILL)
