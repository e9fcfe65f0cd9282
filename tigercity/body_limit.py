"""Refuses a request body larger than anything accepts, before Django reads it.

Django's ASGI handler reads the whole body before any middleware, view or setting sees the request
(into memory, then into a temporary file), so a client could make the server spool any number of bytes
to disk before its 413. The cap here is the largest body an endpoint takes: a dataset upload
(TIGER_MAX_FILE_BYTES) plus TIGER_MAX_BODY_BYTES for the form around it. A declared Content-Length over
it is refused without reading a byte; a body without one is counted as it arrives and refused once it
passes the cap. Each endpoint's own, smaller limit still applies after this one.
"""
import json

from tigercity.api_handler import is_api_path
from tigercity.error_responses import error_body


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(scope, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:  # Django reads the body before it answers: nothing has been sent yet
            await self._refuse(scope, send)

    async def _refuse(self, scope, send) -> None:
        message = f"The request body is larger than the server's limit ({self.limit} bytes)."
        if is_api_path(scope["path"]):
            body = json.dumps(error_body(413, message, code="body_too_large")).encode()
            content_type = b"application/json"
        else:
            body, content_type = message.encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
