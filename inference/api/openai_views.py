"""OpenAI-compatible endpoints, so the official `openai` client works with base_url=.../openai/v1.

The request is translated to a v1 generate_response body and validated by the same serializer; the
events are framed as chat.completion(.chunk) objects. Errors use the same (OpenAI-shaped) object.
"""
import time

from asgiref.sync import sync_to_async
from django.http import JsonResponse

from inference import wire_formats
from inference.api.streaming import EventStream
from inference.generation import generation_request_build, generation_started
from inference.selectors import model_list
from inference.validation import GenerateSerializer, validated
from tigercity.asyncapi import async_api, json_body
from tigercity.errors import InvalidRequest

# OpenAI parameters we accept and ignore because they change nothing here at their default values.
IGNORED = {"user", "store", "metadata", "logprobs", "top_logprobs", "frequency_penalty", "presence_penalty",
           "stream_options", "parallel_tool_calls", "service_tier"}


def _content(content) -> str:
    """OpenAI allows content as a list of parts; only text parts mean something to a text model."""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequest("Only text content parts are supported.", param="messages", code="invalid_value")
            texts.append(part["text"])
        return "".join(texts)
    return content


def translate(body: dict) -> dict:
    """An OpenAI chat.completions body -> a v1 generate_response body (validated afterwards)."""
    data = {k: v for k, v in body.items() if k not in IGNORED}
    for name in ("frequency_penalty", "presence_penalty"):
        if body.get(name) not in (None, 0, 0.0):
            raise InvalidRequest(f"{name} is not supported (only 0).", param=name, code="unsupported_parameter")
    if "max_completion_tokens" in data:
        data["max_tokens"] = data.pop("max_completion_tokens")
    if isinstance(data.get("stop"), str):
        data["stop"] = [data["stop"]]
    if data.get("stop") is None:
        data.pop("stop", None)
    for key in ("temperature", "top_p", "max_tokens", "seed", "n", "stream"):
        if data.get(key) is None:
            data.pop(key, None)
    if isinstance(data.get("messages"), list):
        data["messages"] = [
            {**m, "content": _content(m.get("content"))} if isinstance(m, dict) else m for m in data["messages"]
        ]
    return data


def _include_usage(stream_options) -> bool:
    """OpenAI's stream_options: null, or an object whose include_usage is a boolean."""
    if stream_options is None:
        return False
    if not isinstance(stream_options, dict) or not isinstance(stream_options.get("include_usage", False), bool):
        raise InvalidRequest("stream_options must be an object like {\"include_usage\": true}.",
                             param="stream_options", code="invalid_value")
    return stream_options.get("include_usage", False)


@async_api(methods=("POST",))
async def chat_completions(request):
    body = json_body(request)
    data = validated(GenerateSerializer, translate(body))
    engine_request, model = await sync_to_async(generation_request_build)(owner=request.user, data=data)
    model_id = model.api_id
    include_usage = _include_usage(body.get("stream_options"))
    revision = engine_request.adapter.revision if engine_request.adapter else 0
    async with generation_started(user=request.user, request=engine_request) as generation:
        if data["stream"]:
            chunks = wire_formats.OpenAIChunks(engine_request, model_id, include_usage)
            return EventStream(wire_formats.frames(generation, chunks), generation)
        status, answer = await wire_formats.answer(generation, engine_request, model_id, revision)
    if status != 200:
        return JsonResponse(answer, status=status)
    answer.pop("revision")
    return JsonResponse({**answer, "object": "chat.completion", "system_fingerprint": None})


@async_api(methods=("GET",))
async def models(request):
    created = int(time.time())
    data = []
    for model in await sync_to_async(model_list)(owner=request.user):
        data.append({
            "id": model.api_id,
            "object": "model",
            "created": created if model.read_only else int(model.last_modified.timestamp()),
            "owned_by": "tigercity" if model.read_only else request.user.username,
        })
    return JsonResponse({"object": "list", "data": data})


