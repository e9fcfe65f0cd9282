"""Schemathesis against the live /v1/ OpenAPI schema: no 5xx, answers conform to the schema."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.slow


def test_generated_requests_never_get_a_server_error_and_answers_match_the_schema(tmp_path):
    server = LiveServer(tmp_path / "data", {"TIGER_MAX_TOKENS": "8", "TIGER_RATE_LIMIT": "off"}).start()
    try:
        key = server.create_key("fuzzer")
        cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        result = subprocess.run(
            [cli, "run", f"{server.url}/v1/openapi.json", "-H", f"Authorization: Bearer {key}",
             "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance,"
                         "status_code_conformance",
             "--max-examples", "15", "--seed", "1", "--generation-database", "none",
             "--phases", "coverage,fuzzing"],
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
        assert " passed" in result.stdout
        assert "Traceback" not in server.log()
    finally:
        server.stop()
