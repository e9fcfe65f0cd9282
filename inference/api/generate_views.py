"""POST /v1/generate_response: JSON or a Server-Sent Events stream."""
from asgiref.sync import sync_to_async
from django.http import JsonResponse

from inference.api import streaming
from inference.api.serializers import GenerateSerializer
from inference.api.views import validated
from inference.catalog import BaseModel
from inference.generation import generation_request_build, generation_start
from tigercity.asyncapi import async_api, json_body


@async_api(methods=("POST",))
async def generate_response(request):
    data = validated(GenerateSerializer, json_body(request))
    engine_request, model = await sync_to_async(generation_request_build)(owner=request.user, data=data)
    model_id = model.id if isinstance(model, BaseModel) else model.slug
    revision = engine_request.adapter.revision if engine_request.adapter else 0
    generation = await generation_start(user=request.user, request=engine_request)
    if data["stream"]:
        events = streaming.stream(generation, engine_request, model_id, revision)
        return streaming.EventStream(events, generation)
    status, body = await streaming.collect(generation, engine_request, model_id, revision)
    return JsonResponse(body, status=status)
