"""The v1 model catalog: thin views (validate, call a service, serialise)."""
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from inference import selectors, services
from inference.api.model_info import model_info
from inference.api.schema import Deleted, ModelInfo, errors
from inference.validation import ModelCreateSerializer, ModelUpdateSerializer, validated


class ModelListView(APIView):
    @extend_schema(operation_id="models_list", summary="List the base models, then your own models",
                   responses={200: ModelInfo(many=True), **errors()})
    def get(self, request):
        return Response([model_info(m) for m in selectors.model_list(owner=request.user)])

    @extend_schema(operation_id="models_create", summary="Create a model: a LoRA copy of a base model or of one of your models",
                   request=ModelCreateSerializer, responses={201: ModelInfo, **errors(400, 404, 409, 413, 415)})
    def post(self, request):
        data = validated(ModelCreateSerializer, request.data)
        model = services.model_create(owner=request.user, **data)
        return Response(model_info(model), status=status.HTTP_201_CREATED)


class ModelDetailView(APIView):
    @extend_schema(operation_id="models_read", summary="Read one model", responses={200: ModelInfo, **errors(404)})
    def get(self, request, model_id):
        return Response(model_info(selectors.model_get(owner=request.user, ref=model_id)))

    @extend_schema(operation_id="models_update", summary="Change a model's description and defaults", request=ModelUpdateSerializer,
                   responses={200: ModelInfo, **errors(400, 403, 404, 413, 415)})
    def patch(self, request, model_id):
        model = selectors.model_get(owner=request.user, ref=model_id)
        data = validated(ModelUpdateSerializer, request.data, partial=True)
        return Response(model_info(services.model_update(model=model, **data)))

    @extend_schema(operation_id="models_delete", summary="Delete a model and its weights",
                   responses={200: Deleted, **errors(403, 404)})
    def delete(self, request, model_id):
        model = selectors.model_get(owner=request.user, ref=model_id)
        return Response({"id": services.model_delete(model=model), "deleted": True})
