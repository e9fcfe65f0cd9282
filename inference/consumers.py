"""The Playground's websocket: the same generations as /v1/generate_response, for a signed-in session.

Client -> server: {"type": "generate", "id": "<client id>", "model": ..., "messages": [...], optional
temperature/top_p/max_tokens/stop/seed/n, and "resume": a key of 1-64 letters, digits, ":", "_", "-"};
{"type": "attach", "id": "<client id>", "resume": key}; {"type": "cancel", "id": ...}.
A generation started with "resume" goes on when its socket closes, and "attach" (from any socket of the same
user) follows it again: "start", every frame so far, then the rest, all under the attaching id
(inference/resumable.py). Nothing to attach to: an error with code "generation_not_found".
Server -> client: {"type": "start", "id", "model", "revision"}, {"type": "delta", "id", "index", "text"} (for a
thinking model, such as DeepSeek-R1, also "reasoning" and "content": see wire_formats.WebsocketFrames),
{"type": "finished", "id", "index", "finish_reason"}, {"type": "done", "id", "usage"},
{"type": "cancelled", "id"}, {"type": "error", "id", "error": {the v1 error object's fields}}.
Pushed without asking: {"type": "finetune.event", "job": {...}, "event": {...}} for every event of the
user's fine-tuning jobs (shape: inference/job_events.py).
"""
import asyncio

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework import serializers

from inference import resumable
from inference.engine.reasoning import parser_for
from inference.generation import generation_request_build, generation_started
from inference.job_events import user_group
from inference.validation import GenerateSerializer
from inference.wire_formats import WebsocketFrames
from tigercity.error_responses import describe
from tigercity.errors import InvalidRequest, NotFound

MAX_RUNNING = 4  # generations one socket may run at once


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.running: dict[str, resumable.Relay] = {}  # client id -> the generation it follows
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for relay in list(getattr(self, "running", {}).values()):
            relay.detach()  # a resumable one goes on for a page that reattaches
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def finetune_event(self, message):
        """A fine-tuning job's event, published to this user's group (inference/job_events.py)."""
        await self.send_json({"type": "finetune.event", "job": message["job"], "event": message["event"]})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """A frame that is not JSON text gets an error frame (the socket stays open), not a 1011 close."""
        if text_data is None:
            await self._send_error("", InvalidRequest("Send JSON text frames.", code="invalid_json"))
            return
        try:
            content = await self.decode_json(text_data)
        except (ValueError, RecursionError):
            await self._send_error("", InvalidRequest("A message must be valid JSON.", code="invalid_json"))
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        request_id = str(content.get("id", ""))[:64] if isinstance(content, dict) else ""
        try:
            if not isinstance(content, dict):
                raise InvalidRequest("A message must be a JSON object.")
            kind = content.get("type")
            if kind == "cancel":
                relay = self.running.get(request_id)
                if relay:
                    relay.cancel(by_client=True)
                return
            if kind not in ("generate", "attach"):
                raise InvalidRequest("type must be 'generate', 'attach' or 'cancel'.", param="type")
            if request_id in self.running:
                # A second generation under a running one's id would replace it in `running`, where
                # neither a cancel nor the socket's close would ever reach it again.
                raise InvalidRequest("A generation with this id is still running; use a new id.", param="id",
                                     code="duplicate_id")
            if len(self.running) >= MAX_RUNNING:
                raise InvalidRequest(f"At most {MAX_RUNNING} generations may run at once on one connection.",
                                     code="too_many_generations")
            resume = _resume_key(content)
            if kind == "attach":
                await self._attach(request_id, resume)
                return
            body = {k: v for k, v in content.items() if k not in ("type", "id", "resume")}
            serializer = GenerateSerializer(data=body)
            serializer.is_valid(raise_exception=True)
            user = self.scope["user"]
            engine_request, model = await sync_to_async(generation_request_build)(owner=user,
                                                                                   data=serializer.validated_data)
            model_id = model.api_id
            revision = engine_request.adapter.revision if engine_request.adapter else 0
            async with generation_started(user=user, request=engine_request) as generation:
                start = {"type": "start", "id": request_id, "model": model_id, "revision": revision}
                await self.send_json(start)
                relay = resumable.Relay(user_id=user.pk, resume=resume, start=start)
                await relay.follow(self, request_id, replay=False)
                wire = WebsocketFrames(request_id, parser=parser_for(model.base_name))
                relay.task = asyncio.create_task(relay.run(generation.hand_over(), wire))
                if resume:
                    resumable.keep(relay)
        except (Exception, serializers.ValidationError) as exc:
            await self._send_error(request_id, exc)
            return

    async def _attach(self, request_id: str, resume: str):
        relay = resumable.find(user_id=self.scope["user"].pk, resume=resume) if resume else None
        if relay is None:
            raise NotFound("No generation under this resume key is running or just ended in this server process.",
                           param="resume", code="generation_not_found")
        await relay.follow(self, request_id, replay=True)

    async def _send_error(self, request_id: str, exc: BaseException):
        _, body, _ = describe(exc)
        await self.send_json({"type": "error", "id": request_id, "error": body["error"]})


def _resume_key(content: dict) -> str:
    raw = content.get("resume", "")
    if raw in ("", None):
        return ""
    if not isinstance(raw, str) or not resumable.KEY_PATTERN.match(raw):
        raise InvalidRequest("resume must be 1-64 letters, digits, ':', '_' or '-'.", param="resume",
                             code="invalid_value")
    return raw
