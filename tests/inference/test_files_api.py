"""/v1/files: upload validated whole, limits, per-user privacy, counts; the same under /openai/v1."""
import io
import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

SFT = {"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]}
PREF = {"input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}]}


def jsonl(*objs) -> bytes:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs).encode() + b"\n"


def upload(api, data: bytes, name="data.jsonl", purpose="fine-tune", prefix="/v1"):
    f = io.BytesIO(data)
    f.name = name
    fields = {"file": f} if purpose is None else {"file": f, "purpose": purpose}
    return Client().post(f"{prefix}/files", fields, headers={"Authorization": f"Bearer {api.key}"})


def test_an_upload_reports_its_kind_lines_and_tokens_and_can_be_listed_read_and_deleted(api):
    r = upload(api, jsonl(SFT, SFT, SFT))
    assert r.status_code == 200, r.content
    info = r.json()
    assert info["object"] == "file" and info["id"].startswith("file-") and info["purpose"] == "fine-tune"
    assert (info["kind"], info["lines"], info["bytes"]) == ("supervised", 3, len(jsonl(SFT, SFT, SFT)))
    assert info["tokens"] > 3 * len("Name a colour.Blue.") // 4
    assert [f["id"] for f in api.get("/v1/files").json()["data"]] == [info["id"]]
    assert api.get(f"/openai/v1/files/{info['id']}").json() == info
    assert api.delete(f"/v1/files/{info['id']}").json() == {"id": info["id"], "object": "file", "deleted": True}
    assert api.get(f"/v1/files/{info['id']}").status_code == 404


def test_a_preference_file_is_recognised(api):
    assert upload(api, jsonl(PREF), prefix="/openai/v1").json()["kind"] == "preference"


def test_a_bad_file_is_a_400_naming_its_first_bad_lines_and_nothing_is_stored(api):
    r = upload(api, jsonl(SFT, "{oops", SFT, {"messages": []}))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "file" and error["code"] == "invalid_file"
    assert "line 2: not valid JSON" in error["message"] and "line 4, messages: is empty" in error["message"]
    assert api.get("/v1/files").json()["data"] == []


def test_an_example_longer_than_the_context_is_refused_with_its_line(api):
    long = {"messages": [{"role": "user", "content": "word " * 3000}, {"role": "assistant", "content": "ok"}]}
    r = upload(api, jsonl(SFT, long))
    assert r.status_code == 400 and "line 2: the example is" in r.json()["error"]["message"]
    assert "context is" in r.json()["error"]["message"]


def test_limits_on_size_lines_and_stored_bytes(api, settings):
    settings.TIGER = {**settings.TIGER, "MAX_FILE_BYTES": 2000, "MAX_FILE_LINES": 3, "MAX_STORED_FILE_BYTES": 300}
    r = upload(api, jsonl(*[SFT] * 30))
    assert r.status_code == 413 and "limit is 2000 bytes" in r.json()["error"]["message"]
    r = upload(api, jsonl(SFT, SFT, SFT, SFT))
    assert r.status_code == 400 and "more than 3 examples" in r.json()["error"]["message"]
    stored = jsonl(SFT, SFT)
    assert upload(api, stored).status_code == 200
    r = upload(api, jsonl(SFT, SFT))
    error = r.json()["error"]
    assert r.status_code == 413 and (error["code"], error["param"]) == ("storage_limit_exceeded", "file")
    assert error["message"] == (f"Your stored dataset files, in bytes: {len(stored)} of at most 300, and this needs "
                                f"{len(stored)} more (the limit TIGER_MAX_STORED_FILE_BYTES is 300). "
                                "Delete some you no longer use.")
    assert len(api.get("/v1/files").json()["data"]) == 1  # nothing stored


def test_the_number_of_files_is_capped_per_user(api, bob_api, settings):
    settings.TIGER = {**settings.TIGER, "MAX_FILES": 2}
    for _ in range(2):
        assert upload(api, jsonl(SFT)).status_code == 200
    r = upload(api, jsonl(SFT))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_files"
    assert "Your dataset files: 2 of at most 2 (the limit TIGER_MAX_FILES is 2)" in r.json()["error"]["message"]
    assert upload(bob_api, jsonl(SFT)).status_code == 200  # another user's files do not count


def test_missing_file_and_wrong_purpose_are_400s(api):
    r = Client().post("/v1/files", {"purpose": "fine-tune"}, headers={"Authorization": f"Bearer {api.key}"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = upload(api, jsonl(SFT), purpose="assistants")
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"


def test_files_are_private(api, bob_api):
    file_id = upload(api, jsonl(SFT)).json()["id"]
    assert bob_api.get(f"/v1/files/{file_id}").status_code == 404
    assert bob_api.delete(f"/v1/files/{file_id}").status_code == 404
    assert bob_api.get("/v1/files").json()["data"] == []
    assert api.get(f"/v1/files/{file_id}").status_code == 200
