"""A minimal websocket client for tests (RFC 6455: the handshake, masked text frames out, frames in).

The venv has no asyncio websocket client that can run inside pytest here: autobahn's asyncio flavour
refuses to load once Daphne has chosen Twisted in the same process. Text messages only.
"""
import asyncio
import base64
import json
import os
import struct
from urllib.parse import urlparse

TEXT, CLOSE = 0x1, 0x8


def _frame(opcode: int, payload: bytes) -> bytes:
    """One final frame, masked as a client must."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else b""
    payload = await reader.readexactly(n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


async def exchange(url: str, message: dict, *, headers: dict, until=("done", "error"), timeout: float = 30) -> list[dict]:
    """Connect, send `message` as JSON, and collect the JSON messages received up to one whose "type" is
    in `until` (or the server closing: {"type": "closed", "code": ...})."""
    address = urlparse(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {address.path} HTTP/1.1", f"Host: {address.netloc}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                 *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = answer.split(b"\r\n")[0].decode()
        if " 101 " not in status:
            raise ConnectionError(f"the websocket handshake was refused: {status}")
        writer.write(_frame(TEXT, json.dumps(message).encode()))
        events: list[dict] = []
        while not events or events[-1]["type"] not in (*until, "closed"):
            opcode, payload = await asyncio.wait_for(_read_frame(reader), timeout)
            if opcode == TEXT:
                events.append(json.loads(payload))
            elif opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                events.append({"type": "closed", "code": code})
        writer.write(_frame(CLOSE, struct.pack("!H", 1000)))
        await writer.drain()
        return events
    finally:
        writer.close()
