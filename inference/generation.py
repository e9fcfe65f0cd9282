"""Turning a validated generation request into an engine request pinned to the current revision."""
import uuid
from contextlib import asynccontextmanager

from django.conf import settings

from inference import adapter_files
from inference.admission import acquire_slot
from inference.engine.errors import CheckpointError
from inference.engine.types import AdapterRef, GenerationRequest, SamplingParams
from inference.model_interface import ModelInterface
from inference.models import TunedModel
from inference.runtime import get_runtime
from inference.selectors import model_get
from tigercity.errors import Unavailable


def adapter_ref(model: TunedModel, number: int | None = None) -> AdapterRef:
    """The stored weights of `model` at revision `number` (its current one by default)."""
    number = model.revision if number is None else number
    revision = model.revisions.get(number=number)
    return AdapterRef(key=str(model.key), revision=number, path=adapter_files.absolute(revision.path))


def generation_request_build(*, owner, data: dict) -> tuple[GenerationRequest, ModelInterface]:
    """The engine request for validated `data`, with the model's defaults filling what the caller left out."""
    model = model_get(owner=owner, ref=data["model"])
    limit = settings.TIGER["MAX_TOKENS"]
    params = SamplingParams(
        temperature=data.get("temperature", model.temperature),
        top_p=data.get("top_p", model.top_p),
        max_tokens=min(data.get("max_tokens") or limit, limit),
        stop=tuple(data.get("stop") or ()),
        seed=data.get("seed"),
        n=data.get("n", 1),
    )
    request = GenerationRequest(
        request_id=f"gen-{uuid.uuid4().hex}",
        base=model.base_name,
        messages=tuple({"role": m["role"], "content": m["content"]} for m in data["messages"]),
        params=params,
        adapter=None if model.lora is None else adapter_ref(model),
    )
    return request, model


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
