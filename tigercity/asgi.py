"""ASGI entry point: HTTP goes to Django (the API's paths through a handler of their own with fewer thread
hops: tigercity/api_handler.py) once its body is known not to be too large for any endpoint
(tigercity/body_limit.py); websockets go through session auth and an origin check."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigercity.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from django.conf import settings  # noqa: E402

from inference.revisions import reconcile_adapter_dirs  # noqa: E402
from tigercity.api_handler import ApiHandler, is_api_path  # noqa: E402
from tigercity.body_limit import BodyLimit  # noqa: E402
from tigercity.origin import SameOriginValidator  # noqa: E402
from tigercity.routing import websocket_urlpatterns  # noqa: E402

# A crash between writing a revision's directory and committing its row leaves a directory nobody
# names; remove those before serving (docs/architecture.md: Invariants).
reconcile_adapter_dirs()
if settings.TIGER["ENGINE"] == "embedded":  # jobs run in this process: a dead one's running jobs fail
    from inference.finetune_runner import recover  # noqa: E402

    recover()

api_asgi_app = ApiHandler()


async def http_app(scope, receive, send):
    app = api_asgi_app if is_api_path(scope["path"]) else django_asgi_app
    await app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": BodyLimit(http_app, settings.TIGER["MAX_FILE_BYTES"] + settings.TIGER["MAX_BODY_BYTES"]),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
