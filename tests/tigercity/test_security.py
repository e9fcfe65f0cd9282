"""Security defaults: the deployment check, CSRF on forms, keys never in logs."""
import logging
import os
import secrets
import subprocess
import sys

import pytest
from django.test import Client

from tests.live_server import ROOT


def test_check_deploy_is_clean_under_the_documented_production_settings(tmp_path):
    env = {**os.environ, "TIGER_DATA_DIR": str(tmp_path), "TIGER_HTTPS": "1",
           "TIGER_SECRET_KEY": secrets.token_urlsafe(60), "TIGER_DEBUG": "0"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_a_form_post_without_a_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "alice", "password": "a-long-pass-phrase-42"})
    assert response.status_code == 403
    client.force_login(alice)
    assert client.post("/logout/").status_code == 403


@pytest.mark.django_db
def test_api_keys_never_reach_the_logs(api, caplog, monkeypatch):
    from inference import selectors

    def boom(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "model_list", boom)
    with caplog.at_level(logging.DEBUG):
        api.get("/v1/models")
        api.get("/v1/models/nope")
    assert api.key not in caplog.text
    assert "boom" in caplog.text  # the error itself was logged


def test_the_data_directory_and_its_files_are_private(tmp_path):
    data = tmp_path / "fresh"
    env = {**os.environ, "TIGER_DATA_DIR": str(data)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    code = ("from django.db import connection; connection.ensure_connection();"
            "from inference import adapter_files; from inference.engine.files import copy_directory;"
            "src = adapter_files.adapters_root().parent / 'src'; src.mkdir(); (src / 'w').write_text('x');"
            "copy_directory(src, adapter_files.adapters_root() / 'k' / 'rev-1')")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    paths = [data, *data.rglob("*")]
    assert {p.name for p in paths} >= {"fresh", "secret_key", "tigercity.sqlite3", "adapters", "rev-1", "w"}
    for path in paths:
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


@pytest.mark.django_db
def test_playground_pages_carry_a_content_security_policy_and_need_no_inline_code(alice):
    import re

    from django.contrib.staticfiles import finders

    client = Client()
    pages = [client.get("/login/"), client.get("/signup/")]
    client.force_login(alice)
    pages += [client.get(path) for path in ("/chat/", "/models/", "/train/", "/keys/", "/docs/", "/docs/api/")]
    for response in pages:
        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "an inline script"
        assert not re.search(r"\son[a-z]+\s*=|javascript:|\sstyle\s*=|<style", html, re.I), "inline code or style"
        for src in re.findall(r'<script[^>]*\ssrc="/static/([^"]+)"', html):
            assert finders.find(src), src
    assert "Content-Security-Policy" not in Client().get("/v1/health")
