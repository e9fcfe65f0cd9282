"""The Playground's websocket: the same generations as /v1/generate_response, for a signed-in session.

Client -> server: {"type": "generate", "id": "<client id>", "model": ..., "messages": [...], optional
temperature/top_p/max_tokens/stop/seed/n}; {"type": "cancel", "id": ...}.
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

from inference.engine.reasoning import parser_for
from inference.generation import generation_request_build, generation_started
from inference.job_events import user_group
from inference.validation import GenerateSerializer
from inference.wire_formats import WebsocketFrames, frames
from tigercity.error_responses import describe
from tigercity.errors import InvalidRequest

MAX_RUNNING = 4  # generations one socket may run at once


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.running: dict[str, tuple[asyncio.Task, object]] = {}
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for task, _ in getattr(self, "running", {}).values():
            task.cancel()
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
                entry = self.running.get(request_id)
                if entry:
                    entry[0].cancel()
                return
            if kind != "generate":
                raise InvalidRequest("type must be 'generate' or 'cancel'.", param="type")
            if request_id in self.running:
                # A second generation under a running one's id would replace it in `running`, where
                # neither a cancel nor the socket's close would ever reach it again.
                raise InvalidRequest("A generation with this id is still running; use a new id.", param="id",
                                     code="duplicate_id")
            if len(self.running) >= MAX_RUNNING:
                raise InvalidRequest(f"At most {MAX_RUNNING} generations may run at once on one connection.",
                                     code="too_many_generations")
            body = {k: v for k, v in content.items() if k not in ("type", "id")}
            serializer = GenerateSerializer(data=body)
            serializer.is_valid(raise_exception=True)
            engine_request, model = await sync_to_async(generation_request_build)(
                owner=self.scope["user"], data=serializer.validated_data
            )
            model_id = model.api_id
            revision = engine_request.adapter.revision if engine_request.adapter else 0
            async with generation_started(user=self.scope["user"], request=engine_request) as generation:
                await self.send_json({"type": "start", "id": request_id, "model": model_id, "revision": revision})
                wire = WebsocketFrames(request_id, parser=parser_for(model.base_name))
                task = asyncio.create_task(self._relay(generation.hand_over(), wire))
                self.running[request_id] = (task, generation)
        except (Exception, serializers.ValidationError) as exc:
            await self._send_error(request_id, exc)
            return

    async def _relay(self, generation, wire: WebsocketFrames):
        request_id = wire.id
        try:
            async for frame in frames(generation, wire):
                await self.send_json(frame)
        except asyncio.CancelledError:
            if self.running.get(request_id):  # a "cancel" message, not a closed socket
                await self.send_json({"type": "cancelled", "id": request_id})
            raise
        finally:
            generation.close()
            self.running.pop(request_id, None)

    async def _send_error(self, request_id: str, exc: BaseException):
        _, body, _ = describe(exc)
        await self.send_json({"type": "error", "id": request_id, "error": body["error"]})
