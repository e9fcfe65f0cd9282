"""The Content-Security-Policy of the Playground's pages: scripts, styles, images and connections from this
site only (style attributes allowed), no inline script or handler, no eval, no plugins, no framing, forms posting here only. An
injected <script> or onclick= in a page then does nothing. The pages need no inline code (their behaviour
is in static/playground/*.js; htmx runs with allowEval off and its indicator styles off).

Not applied to the API's Swagger UI (/v1/docs), whose vendored page runs an inline script, nor to JSON.
"""
from django.utils.deprecation import MiddlewareMixin

POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    # Styles from this site; style attributes too: htmx and the browser's own dialog handling set some at
    # run time (the browser test saw them blocked). A style cannot run code; scripts stay strict.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",  # fetch, EventSource and the chat websocket, same origin
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])
EXEMPT = ("/v1/docs",)


class ContentSecurityPolicyMiddleware(MiddlewareMixin):  # sync and async capable, as the others
    def process_response(self, request, response):
        if (response.get("Content-Type", "").startswith("text/html") and not request.path.startswith(EXEMPT)
                and "Content-Security-Policy" not in response):
            response["Content-Security-Policy"] = POLICY
        return response
