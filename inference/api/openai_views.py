"""OpenAI-compatible endpoints, so OpenAI's SDKs, LangChain and LiteLLM work with base_url=.../openai/v1.

Requests are read by openai_request (one rule for every OpenAI field); engine events become
chat.completion(.chunk) / text_completion objects in inference/wire_formats.py. Errors use the one
error object.
"""
import time
import uuid

from asgiref.sync import sync_to_async
from django.http import JsonResponse

from inference import wire_formats
from inference.api.openai_request import chat_data, completion_data
from inference.api.streaming import EventStream
from inference.engine.reasoning import parser_for
from inference.generation import generation_request_abuild, generation_request_build, generation_started
from inference.selectors import model_get, model_list
from tigercity.asyncapi import async_api, json_body
from tigercity.errors import NotFound


def _fingerprint(model, request) -> str:
    """system_fingerprint: which weights answered (a user model's revision moves with each training)."""
    return f"{model.api_id}-r{request.adapter.revision if request.adapter else 0}"


@async_api(methods=("POST",))
async def chat_completions(request):
    data = chat_data(json_body(request))
    data["request_id"] = f"chatcmpl-{uuid.uuid4().hex}"
    engine_request, model = await generation_request_abuild(owner=request.user, data=data)
    shape = (engine_request, model.api_id, _fingerprint(model, engine_request), parser_for(engine_request.base),
             data["tools"], data["include_usage"])
    async with generation_started(user=request.user, request=engine_request) as generation:
        if data["stream"]:
            return EventStream(wire_formats.frames(generation, wire_formats.OpenAIChunks(*shape)), generation)
        status, body = await wire_formats.read_whole(generation, wire_formats.OpenAIAnswer(*shape))
    return JsonResponse(body, status=status)


@async_api(methods=("POST",))
async def completions(request):
    """Text completion without a chat template. Several prompts run one after another (each holds one
    generation slot while it runs); choice index = prompt index * n + candidate, as OpenAI numbers them."""
    data = completion_data(json_body(request))
    completion_id = f"cmpl-{uuid.uuid4().hex}"
    first, model = await sync_to_async(_completion_request)(request.user, data, 0, completion_id)
    head = {"id": completion_id, "object": "text_completion", "created": int(time.time()), "model": model.api_id,
            "system_fingerprint": _fingerprint(model, first)}
    runs = _completion_runs(request.user, data, first, completion_id)
    with_logprobs = data["logprobs"] is not None
    if data["stream"]:
        return EventStream(_completion_chunks(runs, head, with_logprobs, data["include_usage"]), _Unowned())
    choices, totals = [], {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    async for offset, generation in runs:
        whole = wire_formats.CompletionFrames(head, offset, with_logprobs, stream=False)
        async for _ in wire_formats.frames(generation, whole):
            pass
        if whole.error is not None:
            await runs.aclose()
            return JsonResponse(whole.error, status=500)
        choices += whole.choices()
        totals = {key: totals[key] + whole.totals[key] for key in totals}
    return JsonResponse({**head, "choices": choices, "usage": totals})


def _completion_request(user, data: dict, p: int, completion_id: str):
    prompt_data = {**data, "messages": [], "prompt": data["prompts"][p], "request_id": f"{completion_id}-{p}"}
    return generation_request_build(owner=user, data=prompt_data)


async def _completion_runs(user, data: dict, first, completion_id: str):
    """(choice index offset, started generation) for each prompt, one at a time; each generation is
    closed (its slot given back) before the next starts, or when the reader stops early."""
    for p in range(len(data["prompts"])):
        engine_request = first if p == 0 else (await sync_to_async(_completion_request)(user, data, p, completion_id))[0]
        async with generation_started(user=user, request=engine_request) as generation:
            yield p * engine_request.params.n, generation


class _Unowned:
    """EventStream closes one generation; the completion runs close each of theirs themselves."""

    def hand_over(self) -> "_Unowned":
        return self

    def close(self) -> None:
        pass


async def _completion_chunks(runs, head: dict, with_logprobs: bool, include_usage: bool):
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    try:
        async for offset, generation in runs:
            frames = wire_formats.CompletionFrames(head, offset, with_logprobs, stream=True)
            async for frame in wire_formats.frames(generation, frames):
                yield frame
            if frames.error is not None:
                return
            totals = {key: totals[key] + frames.totals[key] for key in totals}
    finally:
        await runs.aclose()
    if include_usage:
        yield {**head, "choices": [], "usage": totals}
    yield "[DONE]"


def _model_object(model, user) -> dict:
    return {"id": model.api_id, "object": "model", "created": int(model.last_modified.timestamp()),
            "owned_by": "tigercity" if model.read_only else user.username}


@async_api(methods=("GET",))
async def models(request):
    found = await sync_to_async(model_list)(owner=request.user)
    return JsonResponse({"object": "list", "data": [_model_object(m, request.user) for m in found]})


@async_api(methods=("GET",))
async def model_detail(request, model_id):
    model = await sync_to_async(model_get)(owner=request.user, ref=model_id)
    return JsonResponse(_model_object(model, request.user))


@async_api(methods=("POST",))
async def embeddings(request):
    raise NotFound("Embeddings are not served by TigerCity: its models are chat models (see docs/api.md).",
                   code="not_supported")
