"""Every documented endpoint, called on the live server: each real answer (JSON, or each streamed
event) validates against the OpenAPI document, and the document itself is valid OpenAPI 3.0.3."""
import json

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

LLAMA = "llama-3.1-8b"
CHAT = {"model": LLAMA, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}


def to_json_schema(node):
    """OpenAPI 3.0 schema objects -> JSON Schema: `nullable: true` becomes "or null"."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


class Walker:
    def __init__(self, server, key):
        self.url, self.headers = server.url, {"Authorization": f"Bearer {key}"}
        self.document = httpx.get(f"{self.url}/v1/openapi.json", timeout=60).json()
        self.components = to_json_schema(self.document["components"])
        self.seen: set[tuple[str, str]] = set()

    def check(self, method: str, template: str, path: str | None = None, stream: bool = False, **kwargs):
        """Call `path` (documented as `template`) and validate the answer; returns the JSON (or events)."""
        operation = self.document["paths"][template][method.lower()]
        self.seen.add((template, method.lower()))
        kwargs.setdefault("headers", self.headers)
        with httpx.stream(method, self.url + (path or template), timeout=120, **kwargs) as response:
            body = response.read()
        documented = operation["responses"].get(str(response.status_code))
        assert documented, f"{method} {template}: {response.status_code} is not documented: {body[:300]!r}"
        content_type = response.headers["content-type"].split(";")[0]
        assert content_type in documented["content"], (template, content_type, list(documented["content"]))
        schema = documented["content"][content_type]["schema"]
        if content_type == "text/event-stream":
            events = [block[len("data: "):] for block in body.decode().split("\n\n") if block]
            assert events[-1] == "[DONE]"
            payloads = [json.loads(e) for e in events[:-1]]
            for payload in payloads:
                self.validate(schema, payload, template)
            return payloads
        if content_type != "application/json":
            return body
        payload = json.loads(body)
        self.validate(schema, payload, template)
        return payload

    def validate(self, schema: dict, payload, where: str) -> None:
        root = {**to_json_schema(schema), "components": self.components}
        try:
            jsonschema.validate(payload, root)
        except jsonschema.ValidationError as e:
            pytest.fail(f"{where}: {e.message} at {list(e.absolute_path)}\n{json.dumps(payload)[:500]}")


def test_the_document_is_valid_openapi_and_every_endpoints_answers_match_it(server, server_key):
    walk = Walker(server, server_key)
    validate_spec(walk.document)

    walk.check("GET", "/v1/health", headers={})
    walk.check("GET", "/v1/models")
    created = walk.check("POST", "/v1/models", json={"name": "Walker Model", "parent_model": LLAMA})
    one = f"/v1/models/{created['id']}"
    walk.check("GET", "/v1/models/{model_id}", one)
    walk.check("GET", "/v1/models/{model_id}", "/v1/models/nope")  # 404 and its error object
    walk.check("PATCH", "/v1/models/{model_id}", one, json={"temperature": 0.5})
    walk.check("POST", "/v1/train", json={"model": created["id"], "messages": [{"role": "user", "content": "Hi"}],
                                          "responses": [{"content": "Hello", "reward": 1}], "learning_steps": 1})
    walk.check("GET", "/v1/models/{model_id}/revisions", f"{one}/revisions")
    walk.check("POST", "/v1/models/{model_id}/revisions/{number}/restore", f"{one}/revisions/0/restore")
    walk.check("GET", "/v1/models/{model_id}/adapter", f"{one}/adapter")
    walk.check("POST", "/v1/generate_response", json={**CHAT, "logprobs": True, "top_logprobs": 1})
    walk.check("POST", "/v1/generate_response",
               json={**CHAT, "model": "deepseek-r1-8b", "stream": True, "reasoning": True, "logprobs": True})
    walk.check("POST", "/v1/generate_response", json={**CHAT, "temperature": 9})  # 400

    walk.check("GET", "/openai/v1/models")
    walk.check("GET", "/openai/v1/models/{model_id}", f"/openai/v1/models/{LLAMA}")
    walk.check("POST", "/openai/v1/chat/completions", json={**CHAT, "logprobs": True, "top_logprobs": 1})
    walk.check("POST", "/openai/v1/chat/completions",
               json={**CHAT, "stream": True, "stream_options": {"include_usage": True}, "logprobs": True})
    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["x"]}}}
    walk.check("POST", "/openai/v1/chat/completions",
               json={**CHAT, "max_tokens": 30, "tools": [tool], "tool_choice": "required", "stream": True})
    walk.check("POST", "/openai/v1/chat/completions", json={**CHAT, "model": "deepseek-r1-8b", "max_tokens": 30,
                                                            "tools": [tool], "tool_choice": "required"})
    walk.check("POST", "/openai/v1/chat/completions", json={**CHAT, "top_k": 3})  # 400
    walk.check("POST", "/openai/v1/completions", json={"model": LLAMA, "prompt": ["a", "b"], "max_tokens": 2,
                                                       "logprobs": 1})
    walk.check("POST", "/openai/v1/completions", json={"model": LLAMA, "prompt": "a", "max_tokens": 2, "stream": True})
    walk.check("POST", "/openai/v1/embeddings", json={"model": LLAMA, "input": "x"})  # 404

    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}] * 2
    upload = {"file": ("d.jsonl", "\n".join(json.dumps(r) for r in rows).encode(), "application/jsonl")}
    for prefix in ("/v1", "/openai/v1"):
        uploaded = walk.check("POST", f"{prefix}/files", files=upload, data={"purpose": "fine-tune"})
        walk.check("GET", f"{prefix}/files")
        walk.check("GET", f"{prefix}/files/{{file_id}}", f"{prefix}/files/{uploaded['id']}")
        job = walk.check("POST", f"{prefix}/fine_tuning/jobs",
                         json={"model": created["id"], "training_file": uploaded["id"]})
        walk.check("GET", f"{prefix}/fine_tuning/jobs")
        walk.check("GET", f"{prefix}/fine_tuning/jobs/{{job_id}}", f"{prefix}/fine_tuning/jobs/{job['id']}")
        walk.check("GET", f"{prefix}/fine_tuning/jobs/{{job_id}}/events", f"{prefix}/fine_tuning/jobs/{job['id']}/events")
        walk.check("POST", f"{prefix}/fine_tuning/jobs/{{job_id}}/cancel", f"{prefix}/fine_tuning/jobs/{job['id']}/cancel")
        walk.check("DELETE", f"{prefix}/files/{{file_id}}", f"{prefix}/files/{uploaded['id']}")

    walk.check("DELETE", "/v1/models/{model_id}", one)
    documented = {(path, method) for path, item in walk.document["paths"].items() for method in item
                  if method in ("get", "post", "patch", "delete", "put")}
    assert documented - walk.seen == set(), "documented endpoints this test does not call"
