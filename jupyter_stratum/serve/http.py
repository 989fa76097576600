"""HTTP/1.1 for the edge runtime: one connection's protocol, keep-alive, answers in order.

Why not ``http.server``: its per-request header parsing (``email.parser``) and a
thread per connection cost more than a logistic regression takes to predict. A
small ``asyncio.Protocol`` parses the request line and headers itself, keeps
connections alive, answers requests on a connection in order, and hands each
request to the :class:`Listener`'s ``dispatch`` callable (the routes live in
:mod:`.app`).

Limits that keep it alive under bad clients: header block <= 64 KiB (431),
body <= ``max_body_bytes`` (413, checked from Content-Length before reading),
idle or stalled connections closed after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError
from .metrics import Metrics

MAX_HEADER_BYTES = 64 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
_STATUS_LINE = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in REASONS.items()}
JSON_TYPE = b"application/json"
PROM_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode

#: ``dispatch(conn, method, target, headers, body)``: answer with ``conn.send``/``send_json``/``fail``,
#: now or later (headers are lower-cased names)
Dispatch = Callable[["Connection", str, str, dict[str, str], bytes], None]


@dataclass
class Listener:
    """What every connection of one server shares: the dispatch callable, limits, metrics, live connections."""

    dispatch: Dispatch
    metrics: Metrics
    max_body_bytes: int = 8 * 1024 * 1024
    idle_timeout: float = 60.0
    access_log: bool = False
    connections: set[Connection] = field(default_factory=set)

    def protocol(self) -> Connection:
        """A new connection's protocol (the factory for ``loop.create_server``)."""
        return Connection(self)

    def sweep(self) -> None:
        """Close connections idle (or stalled mid-request) for longer than idle_timeout; runs again later."""
        now = time.monotonic()
        for conn in list(self.connections):
            if not conn.waiting and now - conn.last_activity > self.idle_timeout:
                conn.close()
        asyncio.get_running_loop().call_later(min(5.0, max(0.1, self.idle_timeout / 4)), self.sweep)

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.close()


class Connection(asyncio.Protocol):
    """One client connection: parse, dispatch, answer in order, keep alive."""

    __slots__ = (
        "listener",
        "transport",
        "buf",
        "waiting",
        "keep_alive",
        "closed",
        "endpoint",
        "t0",
        "last_activity",
        "head_only",
        "paused",
    )

    def __init__(self, listener: Listener):
        self.listener = listener
        self.transport: Any = None
        self.buf = bytearray()
        self.waiting = False
        self.keep_alive = True
        self.closed = False
        self.endpoint = "other"
        self.t0 = 0.0
        self.last_activity = time.monotonic()
        self.head_only = False
        self.paused = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.listener.connections.add(self)
        self.listener.metrics.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        self.listener.metrics.connections -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.last_activity = time.monotonic()
        if not self.waiting:
            self._parse()
        elif len(self.buf) > self.listener.max_body_bytes + MAX_HEADER_BYTES and not self.paused:
            # a client pipelining faster than we answer: stop reading until we catch up
            self.paused = True
            self.transport.pause_reading()

    def _parse(self) -> None:
        while not self.waiting and not self.closed and self.buf:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEADER_BYTES:
                    self._reject(431, "headers_too_large", f"request headers exceed {MAX_HEADER_BYTES} bytes")
                return
            if end > MAX_HEADER_BYTES:
                self._reject(431, "headers_too_large", f"request headers exceed {MAX_HEADER_BYTES} bytes")
                return
            self.t0 = time.perf_counter()
            lines = buf[:end].decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                if len(parts) == 3 and parts[2].startswith("HTTP/"):
                    self._reject(505, "bad_request", f"{parts[2]} is not supported; speak HTTP/1.1")
                else:
                    self._reject(400, "bad_request", "malformed request line; expected 'METHOD /path HTTP/1.1'")
                return
            method, target, version = parts
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    self._reject(400, "bad_request", f"malformed header line {line[:60]!r}")
                    return
                headers[name.lower()] = value.strip()
            if "transfer-encoding" in headers:
                self._reject(
                    411,
                    "length_required",
                    "chunked transfer encoding is not supported; send the body with a Content-Length header",
                )
                return
            length_text = headers.get("content-length", "0")
            if not length_text.isdigit():
                self._reject(400, "bad_request", f"Content-Length {length_text[:40]!r} is not a non-negative integer")
                return
            length = int(length_text)
            if length > self.listener.max_body_bytes:
                self._reject(
                    413,
                    "payload_too_large",
                    f"the body has {length} bytes; this runtime takes at most {self.listener.max_body_bytes} "
                    "(split the request, or start it with a larger --max-body-bytes)",
                )
                return
            total = end + 4 + length
            if len(buf) < total:
                return  # wait for the rest of the body
            body = bytes(buf[end + 4 : total])
            del buf[:total]
            conn_header = headers.get("connection", "").lower()
            if version == "HTTP/1.1":
                self.keep_alive = conn_header != "close"
            else:
                self.keep_alive = conn_header == "keep-alive"
            self.head_only = method == "HEAD"
            self.waiting = True
            self.endpoint = "other"
            self.listener.dispatch(self, method, target, headers, body)

    # -- answers -----------------------------------------------------------
    def send_json(self, status: int, obj: Any) -> None:
        self.send(status, dumps(obj).encode())

    def send(self, status: int, body: bytes, content_type: bytes = JSON_TYPE) -> None:
        app = self.listener
        app.metrics.observe_request(self.endpoint, status, time.perf_counter() - self.t0)
        if self.closed:
            self.waiting = False
            return
        head = [
            _STATUS_LINE.get(status) or f"HTTP/1.1 {status} Error\r\n".encode(),
            b"Content-Type: ",
            content_type,
            b"\r\nContent-Length: ",
            str(len(body)).encode(),
            b"\r\n",
        ]
        if status == 401:
            head.append(b'WWW-Authenticate: Bearer realm="stratum-serve"\r\n')
        if not self.keep_alive:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        if not self.head_only:
            head.append(body)
        self.transport.write(b"".join(head))
        if app.access_log:
            print(f"{self.endpoint} {status} {1000 * (time.perf_counter() - self.t0):.3f}ms", file=sys.stderr)
        self.waiting = False
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        if not self.keep_alive:
            self.close()
        elif self.buf:
            # a pipelined request may be waiting; answering synchronously from
            # inside _parse just continues its loop, so only re-enter from callbacks
            self.parse_soon()

    def is_closed(self) -> bool:
        return self.closed

    def parse_soon(self) -> None:
        asyncio.get_running_loop().call_soon(self._parse)

    def fail(self, error: Exception) -> None:
        if isinstance(error, RequestError):
            status, kind, message = error.status, error.kind, error.message
        else:
            status, kind, message = 500, "internal", f"internal error: {type(error).__name__}: {error}"
        self.listener.metrics.observe_error(kind)
        if status >= 500 and self.listener.access_log:
            print(f"error: {message}", file=sys.stderr)
        self.send_json(status, {"error": message})

    def _reject(self, status: int, kind: str, message: str) -> None:
        """Answer a request that cannot be framed, then close the connection."""
        self.keep_alive = False
        self.waiting = True
        self.buf.clear()
        self.fail(RequestError(message, status=status, kind=kind))

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()
