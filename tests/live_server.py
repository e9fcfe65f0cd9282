"""A real TigerCity server in a subprocess (uvicorn, its own SQLite database and data directory).

For tests that need what only a real server does: streaming over a socket, client disconnects,
the official openai client, crashes. Started once per test session by the `server` fixture.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# What `make run` passes to uvicorn (see the Makefile), so that tests and benchmarks serve the same way.
SERVER_FLAGS = ("--lifespan", "off", "--no-access-log", "--no-proxy-headers", "--timeout-graceful-shutdown", "10")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, data_dir: Path, extra_env: dict | None = None, root: Path = ROOT):
        self.root = root  # the checkout that serves (benchmarks compare another one side by side)
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A server is armed only by its own extra_env: never by a test's monkeypatched failpoints.
        inherited = {k: v for k, v in os.environ.items() if k not in ("TIGER_FAILPOINTS", "TIGER_FAILPOINT_DIR")}
        self.env = {
            **inherited,
            "TIGER_DATA_DIR": str(data_dir),
            "DATABASE_URL": os.environ.get("LIVE_DATABASE_URL", f"sqlite:///{data_dir / 'db.sqlite3'}"),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir / "server.log"

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=self.root, env=self.env,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout.strip()

    def start(self) -> "LiveServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *SERVER_FLAGS, "--host", "127.0.0.1", "--port", str(self.port),
             "tigercity.asgi:application"],
            cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not start in time:\n{self.log()}")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def create_key(self, user: str) -> str:
        return self.manage("createapikey", "--user", user, "--key-name", "test", "--create-user")
