"""OpenAPI documentation of /openai/v1 (OpenAI's shapes, as far as TigerCity answers them).

Requests are documented as JSON objects that point to OpenAI's reference: the accepted fields and
the ones refused are listed in docs/api.md. Answers are described field by field, so a test can
validate every real answer against this schema.
"""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from inference.api.schema import Usage, errors


class TopLogprob(serializers.Serializer):
    token = serializers.CharField(allow_blank=True)
    logprob = serializers.FloatField()
    bytes = serializers.ListField(child=serializers.IntegerField(), allow_null=True)


class TokenLogprob(TopLogprob):
    top_logprobs = TopLogprob(many=True)


class ChoiceLogprobs(serializers.Serializer):
    content = TokenLogprob(many=True, allow_null=True)
    refusal = TokenLogprob(many=True, allow_null=True)


class FunctionCall(serializers.Serializer):
    name = serializers.CharField()
    arguments = serializers.CharField(help_text="A JSON object, as a string.")


class ToolCall(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=["function"])
    function = FunctionCall()


class AssistantMessage(serializers.Serializer):
    role = serializers.ChoiceField(choices=["assistant"])
    content = serializers.CharField(allow_null=True, allow_blank=True)
    refusal = serializers.CharField(allow_null=True)
    reasoning_content = serializers.CharField(required=False, allow_blank=True,
                                              help_text="Reasoning models: the thinking before the answer.")
    tool_calls = ToolCall(many=True, required=False)


class ChatChoice(serializers.Serializer):
    index = serializers.IntegerField()
    message = AssistantMessage()
    logprobs = ChoiceLogprobs(allow_null=True)
    finish_reason = serializers.ChoiceField(choices=["stop", "length", "tool_calls"])


class ChatCompletion(serializers.Serializer):
    id = serializers.CharField(help_text="chatcmpl-...")
    object = serializers.ChoiceField(choices=["chat.completion"])
    created = serializers.IntegerField()
    model = serializers.CharField()
    system_fingerprint = serializers.CharField(help_text="<model id>-r<revision>: which weights answered.")
    choices = ChatChoice(many=True)
    usage = Usage()


class ChunkToolCall(ToolCall):
    index = serializers.IntegerField()


class ChunkDelta(serializers.Serializer):
    role = serializers.ChoiceField(choices=["assistant"], required=False)
    content = serializers.CharField(required=False, allow_blank=True)
    reasoning_content = serializers.CharField(required=False, allow_blank=True)
    tool_calls = ChunkToolCall(many=True, required=False)


class ChunkChoice(serializers.Serializer):
    index = serializers.IntegerField()
    delta = ChunkDelta()
    logprobs = ChoiceLogprobs(allow_null=True)
    finish_reason = serializers.ChoiceField(choices=["stop", "length", "tool_calls"], allow_null=True)


class ChatCompletionChunk(serializers.Serializer):
    """One `data:` event of a streamed chat completion (then `data: [DONE]`)."""

    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["chat.completion.chunk"])
    created = serializers.IntegerField()
    model = serializers.CharField()
    system_fingerprint = serializers.CharField()
    choices = ChunkChoice(many=True)
    usage = Usage(required=False, help_text="stream_options.include_usage: a last chunk with no choices.")


class CompletionLogprobs(serializers.Serializer):
    tokens = serializers.ListField(child=serializers.CharField(allow_blank=True))
    token_logprobs = serializers.ListField(child=serializers.FloatField())
    top_logprobs = serializers.ListField(child=serializers.DictField(child=serializers.FloatField()))
    text_offset = serializers.ListField(child=serializers.IntegerField())


class CompletionChoice(serializers.Serializer):
    index = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True)
    logprobs = CompletionLogprobs(allow_null=True)
    finish_reason = serializers.ChoiceField(choices=["stop", "length"], allow_null=True)


class Completion(serializers.Serializer):
    id = serializers.CharField(help_text="cmpl-...")
    object = serializers.ChoiceField(choices=["text_completion"])
    created = serializers.IntegerField()
    model = serializers.CharField()
    system_fingerprint = serializers.CharField()
    choices = CompletionChoice(many=True)
    usage = Usage(required=False)


class Model(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["model"])
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class ModelList(serializers.Serializer):
    object = serializers.ChoiceField(choices=["list"])
    data = Model(many=True)


def _body(text: str):
    return {"application/json": {"type": "object", "description": text, "additionalProperties": True}}


class ChatCompletionsDoc(APIView):
    @extend_schema(
        operation_id="openai_chat_completions", summary="OpenAI: create a chat completion", tags=["openai"],
        request=OpenApiTypes.OBJECT,
        description="OpenAI's chat.completions request (https://platform.openai.com/docs/api-reference/chat/create). "
                    "Implemented: model, messages (system/developer/user/assistant/tool; text parts), temperature, "
                    "top_p, max_tokens, max_completion_tokens, stop, seed, n, stream, stream_options, logprobs, "
                    "top_logprobs, presence_penalty, frequency_penalty, logit_bias, response_format, tools, "
                    "tool_choice. Ignored: user, metadata, store, parallel_tool_calls, reasoning_effort, "
                    "service_tier, safety_identifier, prompt_cache_key, verbosity. Refused (400 "
                    "unsupported_parameter) unless off: audio, modalities other than text, prediction, "
                    "web_search_options, functions, function_call. Anything else: 400 unknown_parameter.",
        responses={200: ChatCompletion,
                   (200, "text/event-stream"): OpenApiResponse(ChatCompletionChunk, description="stream: true"),
                   **errors(400, 404, 413, 415, 503)},
    )
    def post(self, request):
        """Never routed."""


class CompletionsDoc(APIView):
    @extend_schema(
        operation_id="openai_completions", summary="OpenAI: create a (legacy) text completion", tags=["openai"],
        request=OpenApiTypes.OBJECT,
        description="OpenAI's completions request: model, prompt (a string or a list of up to 16 strings; token "
                    "arrays are refused), temperature, top_p, max_tokens, stop, seed, n, stream, stream_options, "
                    "logprobs (0-5), presence_penalty, frequency_penalty, logit_bias. The prompt is sent as "
                    "text, without the chat template.",
        responses={200: Completion,
                   (200, "text/event-stream"): OpenApiResponse(Completion, description="stream: true"),
                   **errors(400, 404, 413, 415, 503)},
    )
    def post(self, request):
        """Never routed."""


class ModelsDoc(APIView):
    @extend_schema(operation_id="openai_models_list", summary="OpenAI: list models", tags=["openai"],
                   responses={200: ModelList, **errors()})
    def get(self, request):
        """Never routed."""


class ModelDoc(APIView):
    @extend_schema(operation_id="openai_models_retrieve", summary="OpenAI: retrieve a model", tags=["openai"],
                   responses={200: Model, **errors(404)})
    def get(self, request, model_id):
        """Never routed."""


class EmbeddingsDoc(APIView):
    @extend_schema(operation_id="openai_embeddings", summary="OpenAI: embeddings (not served: always 404)",
                   tags=["openai"], request=OpenApiTypes.OBJECT, responses={**errors(404)})
    def post(self, request):
        """Never routed."""


OPENAI_ENDPOINTS = [
    ("/openai/v1/chat/completions", r"^openai/v1/chat/completions/?$", "POST", ChatCompletionsDoc),
    ("/openai/v1/completions", r"^openai/v1/completions/?$", "POST", CompletionsDoc),
    ("/openai/v1/models", r"^openai/v1/models/?$", "GET", ModelsDoc),
    ("/openai/v1/models/{model_id}", r"^openai/v1/models/(?P<model_id>[^/]+)/?$", "GET", ModelDoc),
    ("/openai/v1/embeddings", r"^openai/v1/embeddings/?$", "POST", EmbeddingsDoc),
]
