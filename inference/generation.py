"""Turning a validated generation request into an engine request pinned to the current revision."""
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace

from asgiref.sync import sync_to_async
from django.conf import settings

from inference import adapter_files, resolved_models
from inference.catalog import base_model
from inference.admission import acquire_slot
from inference.engine import structured
from inference.engine.reasoning import parser_for
from inference.engine.errors import CheckpointError
from inference.engine.types import AdapterRef, GenerationRequest, SamplingParams
from inference.model_interface import ModelInterface
from inference.models import TunedModel
from inference.runtime import get_runtime
from inference.selectors import model_get, revision_get
from tigercity import cache as shared_cache
from tigercity import generations
from tigercity.errors import InvalidRequest, Unavailable


def adapter_ref(model: TunedModel, number: int | None = None) -> AdapterRef:
    """The stored weights of `model` at revision `number` (its current one by default)."""
    number = model.revision if number is None else number
    revision = model.revisions.get(number=number)
    return AdapterRef(key=str(model.key), revision=number, path=adapter_files.absolute(revision.path))


def resolved_model(*, owner, ref: str, cached_only: bool = False) -> tuple[ModelInterface, AdapterRef | None] | None:
    """The model `ref` names and its current weights (None for a base model): a user model from this
    process's resolved models when they may be trusted (inference/resolved_models.py), else the database
    (with `cached_only`: None instead of reading the database)."""
    found = base_model(ref) if ref else None
    if found is not None:
        return found, None
    if not settings.TIGER["KEY_CACHE"]:
        return None if cached_only else _from_database(owner, ref)
    cache, name = resolved_models.process_cache, resolved_models.generation_name(owner.pk)
    generation = generations.current(name)  # before the database: see tigercity/generations.py
    key = (owner.pk, ref.strip().lower())
    hit = cache.get(key, generation)
    if hit is not None or cached_only:
        return hit
    resolved = _from_database(owner, ref)
    cache.put(key, resolved, generation)
    return resolved


def _from_database(owner, ref: str) -> tuple[ModelInterface, AdapterRef | None]:
    model = model_get(owner=owner, ref=ref)
    return model, (None if model.lora is None else adapter_ref(model))


def generation_request_build(*, owner, data: dict) -> tuple[GenerationRequest, ModelInterface]:
    """The engine request for validated `data`, with the model's defaults filling what the caller left out."""
    model, current = resolved_model(owner=owner, ref=data["model"])
    return _request(model, current, data), model


async def generation_request_abuild(*, owner, data: dict) -> tuple[GenerationRequest, ModelInterface]:
    """generation_request_build for async code: on the event loop itself when it needs no I/O (the shared
    cache is this process's memory, the model a base model or one this process has resolved, no pinned
    revision, no grammar to compile), else in one hop to a thread."""
    if data.get("revision") is None and _grammar_schema(data) is None and shared_cache.in_process(shared_cache.shared()):
        found = resolved_model(owner=owner, ref=data["model"], cached_only=True)
        if found is not None:
            return _request(*found, data), found[0]
    return await sync_to_async(generation_request_build)(owner=owner, data=data)


def _request(model: ModelInterface, current: AdapterRef | None, data: dict) -> GenerationRequest:
    limit = settings.TIGER["MAX_TOKENS"]
    params = SamplingParams(
        temperature=data.get("temperature", model.temperature),
        top_p=data.get("top_p", model.top_p),
        max_tokens=min(data.get("max_tokens") or limit, limit),
        stop=tuple(data.get("stop") or ()),
        seed=data.get("seed"),
        n=data.get("n", 1),
        logprobs=data.get("logprobs"),
        presence_penalty=data.get("presence_penalty", 0.0),
        frequency_penalty=data.get("frequency_penalty", 0.0),
        logit_bias=tuple(tuple(pair) for pair in data.get("logit_bias") or ()),
        grammar=None,
    )
    pinned = pinned_revision(model, data)
    base, ref = model.base_name, (current if pinned is None else adapter_ref(model, pinned))
    grammar = constraint_grammar(data)
    if grammar is not None:
        # a reasoning model closes its (then empty) thinking first, so its parser finds the answer
        parser = parser_for(base)
        params = replace(params, grammar=grammar, grammar_prefix=parser.end_tag if parser else "")
    request = GenerationRequest(
        request_id=data.get("request_id") or f"gen-{uuid.uuid4().hex}",
        base=base,
        messages=tuple(_message(m) for m in data["messages"]),
        params=params,
        adapter=ref,
        tools=tuple(data.get("tools") or ()),
        prompt=data.get("prompt"),
    )
    return request


def pinned_revision(model: ModelInterface, data: dict) -> int | None:
    """The kept revision `data` asks for (None: the current one); 404 for one that is not kept."""
    number = data.get("revision")
    if number is None:
        return None
    if model.lora is None:
        raise InvalidRequest(f"{model.name} is a base model: it has no revisions to choose from.", param="revision",
                             code="invalid_value")
    return revision_get(model=model, number=number).number


def _message(m: dict) -> dict:
    message = {"role": m["role"], "content": m["content"]}
    for key in ("tool_calls", "tool_call_id"):
        if m.get(key):
            message[key] = m[key]
    return message


def _grammar_schema(data: dict) -> tuple[dict, str] | None:
    """(JSON schema, the parameter it comes from) of a forced tool call or a JSON response_format."""
    choice, tools = data.get("tool_choice"), data.get("tools") or []
    if choice == "required" or isinstance(choice, dict):
        return structured.tool_call_schema(tools, choice["name"] if isinstance(choice, dict) else None), "tools"
    if data.get("response_format") is not None:
        return data["response_format"], "response_format"
    return None


def constraint_grammar(data: dict) -> str | None:
    """The grammar the answer must follow: a forced tool call or a JSON response_format (else None).
    Raises InvalidRequest for a schema the grammar engine refuses."""
    found = _grammar_schema(data)
    if found is None:
        return None
    schema, param = found
    try:
        grammar = structured.json_grammar(schema)
    except (ValueError, TypeError) as e:
        raise InvalidRequest(f"{param}: the JSON schema is not usable: {e}", param=param, code="invalid_value")
    error = structured.grammar_error(grammar)
    if error:
        raise InvalidRequest(f"{param}: the JSON schema is not supported: {error}", param=param, code="invalid_value")
    return grammar


@asynccontextmanager
async def generation_started(*, user, request: GenerationRequest):
    """Start `request` for `user` within their concurrent-generation limit, for the body of an `async with`.

    Whatever way the body leaves (an answer, an exception, a cancelled task), the generation is closed
    and the user's slot comes back, unless the body handed it over (GenerationStream.hand_over) to what
    outlives it: a streaming response, the task relaying it to a websocket, which close it themselves."""
    release = acquire_slot(user.pk)
    try:
        generation = await get_runtime().start_generation(request)
    except CheckpointError:
        release()
        raise Unavailable(f"The base model {request.base} failed to load on this server; its requests are refused "
                          "until the operator fixes it (GET /v1/health lists it).", code="base_model_failed") from None
    except BaseException:
        release()
        raise
    generation.on_close(release)
    try:
        yield generation
    finally:
        if not generation.handed_over:
            generation.close()
