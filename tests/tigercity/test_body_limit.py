"""A body larger than any endpoint takes is refused before the server stores it (tigercity/body_limit.py):
Django itself reads a whole body, to a temporary file, before anything can refuse it."""
import json
import socket

from django.conf import settings

CAP = settings.TIGER["MAX_FILE_BYTES"] + settings.TIGER["MAX_BODY_BYTES"]  # the live server's defaults


def exchange(server, head: bytes, chunks=()) -> tuple[int, dict, bytes]:
    """Send a request head (and body chunks) on a socket of its own; the status, headers and body of
    the answer, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        data = b""
        while piece := sock.recv(65536):
            data += piece
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = raw_head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_a_declared_length_over_the_cap_is_413_before_a_byte_of_the_body_is_sent(server, server_key):
    head = (f"POST /v1/generate_response HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {CAP + 1}\r\n\r\n").encode()
    status, headers, body = exchange(server, head)  # the body is never sent: the answer comes anyway
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "body_too_large"


def test_a_chunked_body_is_refused_once_it_passes_the_cap(server):
    head = (b"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    # CAP + 1 bytes in all, and nothing after the byte that passes the cap (not even the chunk's closing
    # CRLF): bytes the server never reads would make its close a reset, losing the answer before we read it.
    sizes = [1 << 20] * (CAP // (1 << 20)) + [CAP % (1 << 20) + 1]
    chunks = [b"%x\r\n" % n + b"x" * n + b"\r\n" for n in sizes[:-1]] + [b"%x\r\n" % sizes[-1] + b"x" * sizes[-1]]
    status, _, body = exchange(server, head, chunks)
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"


def test_a_playground_page_gets_the_refusal_as_text(server):
    head = f"POST /keys/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {CAP + 1}\r\n\r\n".encode()
    status, headers, body = exchange(server, head)
    assert status == 413 and headers["content-type"].startswith("text/plain")
    assert b"larger than the server's limit" in body


def test_a_body_within_the_cap_reaches_the_endpoint_and_its_own_limit(server, server_key):
    """Under the cap, the endpoint's own, smaller limit answers (here: a generation's JSON body)."""
    payload = json.dumps({"model": "Llama-3.1-8b", "messages": [{"role": "user", "content": "x" * 2_000_000}]}).encode()
    head = (f"POST /v1/generate_response HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
    status, _, body = exchange(server, head, [payload])
    assert status == 413 and json.loads(body)["error"]["message"].endswith("(TIGER_MAX_BODY_BYTES).")
