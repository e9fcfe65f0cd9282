"""POST /v1/train."""
from django.http import JsonResponse

from inference.api.model_info import model_info
from inference.training import model_train
from inference.validation import TrainSerializer, validated
from tigercity.asyncapi import async_api, json_body


@async_api(methods=("POST",))
async def train(request):
    data = validated(TrainSerializer, json_body(request))
    model, run = await model_train(owner=request.user, data=data)
    return JsonResponse({**model_info(model), "training": run.metrics})
