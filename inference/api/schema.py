"""OpenAPI documentation of the v1 answers, and of the async endpoints DRF cannot introspect.

generate_response, train and the adapter export are async function views (see tigercity/asyncapi.py).
drf-spectacular documents DRF views only, so each of them has a documentation class here, added to the
schema by `add_async_endpoints` (a spectacular preprocessing hook). The classes are never routed.
"""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from inference.validation import GenerateSerializer, TrainSerializer


class ErrorDetail(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)


class Error(serializers.Serializer):
    error = ErrorDetail()


class ModelInfo(serializers.Serializer):
    name = serializers.CharField()
    id = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    read_only = serializers.BooleanField()
    parent_model = serializers.CharField(required=False)
    revision = serializers.IntegerField()
    last_modified = serializers.CharField()
    default_model = serializers.BooleanField()
    temperature = serializers.FloatField()
    top_p = serializers.FloatField()
    learning_rate = serializers.FloatField()
    learning_steps = serializers.IntegerField()
    beta = serializers.FloatField()
    epsilon = serializers.FloatField()
    rank = serializers.IntegerField(required=False)
    alpha = serializers.FloatField(required=False)
    dropout = serializers.FloatField(required=False)
    target_modules = serializers.CharField(required=False)


class Deleted(serializers.Serializer):
    id = serializers.CharField()
    deleted = serializers.BooleanField()


class Training(serializers.Serializer):
    revision = serializers.IntegerField()
    changed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    loss = serializers.FloatField(allow_null=True)
    kl = serializers.FloatField(allow_null=True)
    reward_mean = serializers.FloatField()
    reward_std = serializers.FloatField()
    clip_fraction = serializers.FloatField(allow_null=True)
    tokens = serializers.IntegerField()
    steps = serializers.IntegerField()
    duration_ms = serializers.IntegerField()


class TrainAnswer(ModelInfo):
    training = Training()


class RevisionInfo(serializers.Serializer):
    revision = serializers.IntegerField()
    created = serializers.CharField()
    restored_from = serializers.IntegerField(allow_null=True)
    training = Training(allow_null=True)


class Message(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)


class Choice(serializers.Serializer):
    index = serializers.IntegerField()
    message = Message()
    finish_reason = serializers.ChoiceField(choices=["stop", "length"])


class Usage(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class GenerateAnswer(serializers.Serializer):
    id = serializers.CharField()
    model = serializers.CharField()
    revision = serializers.IntegerField()
    created = serializers.IntegerField()
    choices = Choice(many=True)
    usage = Usage()


class StreamDelta(serializers.Serializer):
    content = serializers.CharField(allow_blank=True, required=False)
    reasoning_content = serializers.CharField(allow_blank=True, required=False)


class StreamChoice(serializers.Serializer):
    index = serializers.IntegerField()
    delta = StreamDelta()
    finish_reason = serializers.ChoiceField(choices=["stop", "length"], allow_null=True)
    logprobs = serializers.DictField(required=False, help_text="With logprobs: {\"content\": [token entries]}")


class GenerateEvent(serializers.Serializer):
    """One `data:` event of a streamed generate_response (the stream ends with `data: [DONE]`)."""

    id = serializers.CharField()
    model = serializers.CharField()
    revision = serializers.IntegerField()
    choices = StreamChoice(many=True)
    usage = Usage(required=False, help_text="On the last event only.")


class Health(serializers.Serializer):
    status = serializers.CharField()
    engine = serializers.DictField(help_text="The inference backend: its name, readiness, loaded base models.")


ERRORS = {status: OpenApiResponse(Error, description=text) for status, text in {
    400: "Invalid request: the message names the field and the limit.",
    401: "Missing, malformed, unknown or revoked API key.",
    403: "A base model is read-only.",
    404: "No such model (or another user's).",
    409: "The name is taken.",
    413: "The body is larger than the server's limit.",
    415: "The body must be application/json.",
    429: "Rate limit or concurrent-generation limit: see Retry-After.",
    503: "The engine is overloaded or unavailable: see Retry-After.",
}.items()}


def errors(*statuses: int) -> dict:
    return {s: ERRORS[s] for s in (401, 429, *statuses)}


class GenerateDoc(APIView):
    """Documentation only (the view is inference.api.generate_views.generate_response)."""

    @extend_schema(
        operation_id="generate_response", summary="Generate a response (JSON, or Server-Sent Events with stream)",
        request=GenerateSerializer,
        responses={200: OpenApiResponse(GenerateAnswer, description="With \"stream\": true the answer is "
                   "text/event-stream: one `data: {json}` event per piece of text, a last event with the "
                   "finish_reason and usage, then `data: [DONE]`."),
                   (200, "text/event-stream"): OpenApiResponse(GenerateEvent, description="With \"stream\": true: "
                   "Server-Sent Events, each `data: <GenerateEvent as JSON>`, then `data: [DONE]`. An error after "
                   "the stream started comes as `data: {\"error\": {...}}`."),
                   **errors(400, 404, 413, 415, 503)},
    )
    def post(self, request):
        """Never routed."""


class TrainDoc(APIView):
    """Documentation only (the view is inference.api.train_views.train)."""

    @extend_schema(operation_id="train", summary="Train an own model from rewarded responses",
                   request=TrainSerializer, responses={200: TrainAnswer, **errors(400, 403, 404, 413, 415, 503)})
    def post(self, request):
        """Never routed."""


class AdapterDoc(APIView):
    """Documentation only (the view is inference.api.revision_views.adapter_export)."""

    @extend_schema(
        operation_id="adapter_export", summary="Download a revision as a zip of a standard PEFT adapter",
        parameters=[OpenApiParameter("revision", int, description="default: the current revision")],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **errors(400, 403, 404)},
    )
    def get(self, request, model_id):
        """Never routed."""


class HealthDoc(APIView):
    """Documentation only (the view is tigercity.views.health)."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(operation_id="health", summary="Liveness, and whether the engine is ready (no auth)",
                   responses={200: Health}, auth=[])
    def get(self, request):
        """Never routed."""


ASYNC_ENDPOINTS = [
    ("/v1/health", r"^v1/health/?$", "GET", HealthDoc),
    ("/v1/generate_response", r"^v1/generate_response/?$", "POST", GenerateDoc),
    ("/v1/train", r"^v1/train/?$", "POST", TrainDoc),
    ("/v1/models/{model_id}/adapter", r"^v1/models/(?P<model_id>[^/]+)/adapter/?$", "GET", AdapterDoc),
]


def add_async_endpoints(endpoints):
    """Spectacular preprocessing hook: document the async views next to the DRF ones."""
    from inference.api.openai_schema import OPENAI_ENDPOINTS  # it builds on this module's shapes

    extra = [(path, regex, method, view.as_view()) for path, regex, method, view in ASYNC_ENDPOINTS + OPENAI_ENDPOINTS]
    return endpoints + extra
