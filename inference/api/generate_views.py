"""POST /v1/generate_response: JSON or a Server-Sent Events stream."""
from django.http import JsonResponse

from inference import wire_formats
from inference.api.streaming import EventStream
from inference.engine.reasoning import parser_for
from inference.generation import generation_request_abuild, generation_started
from inference.validation import GenerateSerializer, validated
from tigercity.asyncapi import async_api, json_body


@async_api(methods=("POST",))
async def generate_response(request):
    data = dict(validated(GenerateSerializer, json_body(request)))
    want_logprobs = data.pop("logprobs")
    data["logprobs"] = data.pop("top_logprobs", 0) if want_logprobs else None
    engine_request, model = await generation_request_abuild(owner=request.user, data=data)
    model_id = model.api_id
    revision = engine_request.adapter.revision if engine_request.adapter else 0
    parser = parser_for(engine_request.base) if data["reasoning"] else None
    async with generation_started(user=request.user, request=engine_request) as generation:
        if data["stream"]:
            chunks = wire_formats.V1Chunks(engine_request, model_id, revision, parser)
            return EventStream(wire_formats.frames(generation, chunks), generation)
        status, body = await wire_formats.answer(generation, engine_request, model_id, revision, parser)
    return JsonResponse(body, status=status)
