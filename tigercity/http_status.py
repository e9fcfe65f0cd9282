"""Reason phrases Daphne's status lines need: it takes them from Twisted's table, which lacks 429
(clients saw "429 Unknown Status"). Imported by tigercity.asgi before serving."""
from twisted.web import http

http.RESPONSES.setdefault(429, b"Too Many Requests")
