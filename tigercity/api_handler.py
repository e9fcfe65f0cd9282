"""The ASGI handler of the API's paths (/v1/, /openai/): Django's own, with a middleware chain of its own.

Django runs each hook of a MiddlewareMixin middleware, for an async request, through sync_to_async (a
hop to a thread and back), and WhiteNoise, sync only, moves everything below it onto a thread from which
an async view is reached again through async_to_sync: about ten hops per API request, a few ms of a
1-token generation on a busy 2-core machine (bench/README.md, fixed cost). The API authenticates with
Bearer keys, never with cookies, so sessions, CSRF, the session's user, messages, htmx and static files
have nothing to do for it. The middlewares that do shape its answers (SecurityMiddleware: nosniff, HSTS,
the HTTPS redirect, Referrer-Policy, Cross-Origin-Opener-Policy; CommonMiddleware: disallowed user
agents, www; XFrameOptionsMiddleware) run here too, their hooks called inline on the event loop: they read
settings, the request and the response, nothing else.

Django also gives every request a thread of its own for its synchronous parts (database queries, DRF
views), starting one and joining it from yet another thread: here a request borrows an idle one-thread
executor from a pool instead, and gives it back when its answer is sent. request_started and
request_finished make no hop to that thread when it has nothing to do there (tigercity/request_signals.py).
"""
import asyncio
import threading
from contextlib import asynccontextmanager

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, markcoroutinefunction, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix

from tigercity.request_signals import RequestExecutor, deferrable_start, inline_finish

API_PREFIXES = ("/v1/", "/openai/")
INLINE = (SecurityMiddleware, CommonMiddleware, XFrameOptionsMiddleware)  # in settings.MIDDLEWARE's order
IDLE_THREADS = 32  # executors kept for the next requests; more at once are made and then shut down


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/v1", "/openai")


class InlineMiddleware:
    """INLINE's hooks, nested as Django nests them (process_request in order, process_response in
    reverse, a short-cut response still passing through the process_response of those it went through)."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.layers = [cls(get_response) for cls in INLINE]
        markcoroutinefunction(self)  # so that Django awaits it

    async def __call__(self, request):
        entered, response = [], None
        for layer in self.layers:
            entered.append(layer)
            hook = getattr(layer, "process_request", None)
            response = hook(request) if hook else None
            if response is not None:
                break
        if response is None:
            response = await self.get_response(request)
        for layer in reversed(entered):
            hook = getattr(layer, "process_response", None)
            if hook:
                response = hook(request, response)
        return response


class ApiHandler(ASGIHandler):
    def __init__(self):
        self._idle: list[RequestExecutor] = []
        self._idle_lock = threading.Lock()
        super().__init__()

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        view = convert_exception_to_response(self._get_response_async)
        self._middleware_chain = convert_exception_to_response(InlineMiddleware(view))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with self.request_thread() as executor:
            await self.handle(scope, receive, send, executor)

    async def handle(self, scope, receive, send, executor=None):
        """Django's ASGIHandler.handle (5.2), its two signals sent as tigercity/request_signals.py says."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        if executor is not None and deferrable_start(self.__class__):
            executor.lend(lambda: signals.request_started.send(sender=self.__class__, scope=scope))
        else:
            await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await self._close(error_response, executor)
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client left while the answer was sent
            return response

        # As Django does: a client that leaves cancels the view (a generation stops).
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await self._close(response, executor)
        body_file.close()

    async def _close(self, response, executor) -> None:
        """response.close(): its resources, then request_finished; on the loop when the request ran
        nothing on its thread (tigercity/request_signals.py), on that thread otherwise."""
        if executor is None or executor.used:
            await sync_to_async(response.close)()
            return
        finish = inline_finish(getattr(response, "_handler_class", self.__class__))
        if finish is None:
            await sync_to_async(response.close)()
            return
        for closer in response._resource_closers:
            try:
                closer()
            except Exception:
                pass  # as HttpResponseBase.close
        response._resource_closers.clear()
        response.closed = True
        finish()

    @asynccontextmanager
    async def request_thread(self):
        """Django's per-request context, its thread borrowed from the pool instead of started (and joined)
        for this request. The executor is taken out of the context before the context exits (which
        would shut it down), so a task that outlives the request (a training shielded from a client that
        left) gets a thread of its own at its next sync call, as under Django's own handler."""
        executor = self._borrow()
        try:
            async with ThreadSensitiveContext() as context:
                SyncToAsync.context_to_thread_executor[context] = executor
                try:
                    yield executor
                finally:
                    SyncToAsync.context_to_thread_executor.pop(context, None)
        finally:
            self._give_back(executor)

    def _borrow(self) -> RequestExecutor:
        with self._idle_lock:
            executor = self._idle.pop() if self._idle else RequestExecutor()
        executor.lend()
        return executor

    def _give_back(self, executor: RequestExecutor) -> None:
        executor.lend()  # drops a start that never ran (the request ran nothing on the thread)
        with self._idle_lock:
            if len(self._idle) < IDLE_THREADS:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)
