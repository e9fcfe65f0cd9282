"""Named crash points for the crash tests (a "failpoint", as in FreeBSD, TiKV, etcd).

`TIGER_FAILPOINTS=after_revision_write` makes the process SIGKILL itself when it reaches
`failpoint("after_revision_write")`: the test then restarts the server and checks what survived.
Unset (always, outside those tests) it costs one dictionary lookup.
"""
import os
import signal


def failpoint(name: str) -> None:
    armed = os.environ.get("TIGER_FAILPOINTS", "")
    if armed and name in armed.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
