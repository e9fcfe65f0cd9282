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
