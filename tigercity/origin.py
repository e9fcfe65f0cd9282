"""The websocket origin check: a socket is accepted only from a page of this very site.

Channels' AllowedHostsOriginValidator compares host names only, so a page served on another port of the
same host (http://localhost:9999) could open the chat socket with the user's cookie. Here the Origin's
scheme, host and port must equal the site's as the browser reached it (the Host header, and https when
the connection or, with TIGER_HTTPS, the proxy's X-Forwarded-Proto says so), whose host must be in
ALLOWED_HOSTS; or the Origin must be one of CSRF_TRUSTED_ORIGINS, exactly. As Django's CSRF check does
for forms.
"""
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, None if it is not an http(s) one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def origin_allowed(scope) -> bool:
    headers = _headers(scope)
    origin = _origin(headers.get("origin", ""))
    if origin is None:
        return False
    if any(origin == _origin(trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    host = headers.get("host", "")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    secure = scope.get("scheme") == "wss"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name = proxy_header[0].removeprefix("HTTP_").replace("_", "-").lower()
        secure = secure or headers.get(name, "").split(",")[0].strip() == proxy_header[1]
    return origin == _origin(f"{'https' if secure else 'http'}://{host}")


class SameOriginValidator:
    """ASGI middleware: a websocket whose Origin is not this site's is closed before anything runs."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
