"""HTTP/1.1 for the edge runtime: llhttp parses, one connection answers its requests in order.

The bytes are parsed by ``httptools`` (llhttp, the parser of Node.js and of uvicorn):
request line, headers, ``Content-Length`` and chunked bodies, with RFC 9112's rules
(two ``Content-Length`` headers, or one beside ``Transfer-Encoding``, are refused: that
is how request smuggling through a proxy starts). This module keeps connections alive,
queues pipelined requests and answers them in order, answers ``Expect: 100-continue``,
and hands each request to the :class:`Listener`'s ``dispatch`` callable (the routes
live in :mod:`.app`).

Limits that keep it alive under bad clients: request line + headers <= 64 KiB (431),
body <= ``max_body_bytes`` (413: from Content-Length before reading, or as a chunked
body grows), bytes that are not HTTP/1.x answered 400 and the connection closed,
idle or stalled connections closed after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httptools

from .errors import RequestError
from .metrics import Metrics

MAX_HEADER_BYTES = 64 * 1024
MAX_PIPELINED = 64  # requests parsed ahead of the answers before the connection stops reading
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
_STATUS_LINE = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in REASONS.items()}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
JSON_TYPE = b"application/json"
OCTET_TYPE = b"application/octet-stream"
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


class _Refuse(Exception):
    """Raised inside a parser callback: the request cannot be taken; answer ``status`` and close."""

    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.error = RequestError(message, status=status, kind=kind)


#: a parsed request waiting for its turn: (method, target, headers, body, keep_alive)
_Request = tuple[str, str, dict[str, str], bytes, bool]


def _parse_error(exc: Exception, started: bool) -> RequestError:
    """The answer to bytes llhttp refused, saying what was wrong."""
    reason = str(exc) or type(exc).__name__
    lowered = reason.lower()
    if not started or isinstance(exc, (httptools.HttpParserInvalidMethodError, httptools.HttpParserInvalidURLError)):
        return RequestError(f"malformed request line ({reason}); expected 'METHOD /path HTTP/1.1'")
    if "http version" in lowered:
        return RequestError(f"{reason}; speak HTTP/1.1", status=505)
    if "content-length" in lowered or "transfer-encoding" in lowered:
        return RequestError(
            f"{reason}: send one Content-Length with the body's size in bytes, or Transfer-Encoding: chunked alone"
        )
    if "chunk" in lowered:
        return RequestError(f"malformed chunked body ({reason}); each chunk is 'SIZE-IN-HEX CRLF data CRLF'")
    if "header" in lowered:
        return RequestError(f"malformed header ({reason}); header lines are 'Name: value'")
    return RequestError(f"malformed request ({reason}); send HTTP/1.1")


class Connection(asyncio.Protocol):
    """One client connection: parse (llhttp), queue, dispatch in order, answer, keep alive."""

    __slots__ = (
        "listener",
        "transport",
        "parser",
        "queue",
        "waiting",
        "keep_alive",
        "closed",
        "endpoint",
        "t0",
        "last_activity",
        "head_only",
        "paused",
        "broken",
        "eof",
        "running",
        "in_head",
        "in_message",
        "head_bytes",
        "raw_head",
        "url",
        "headers",
        "body",
        "body_bytes",
        "queued_bytes",
        "continue_due",
    )

    def __init__(self, listener: Listener):
        self.listener = listener
        self.transport: Any = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[_Request | RequestError] = deque()
        self.waiting = False  # a request is dispatched and not yet answered
        self.keep_alive = True
        self.closed = False
        self.endpoint = "other"
        self.t0 = 0.0
        self.last_activity = time.monotonic()
        self.head_only = False
        self.paused = False
        self.broken = False  # a framing error is queued: read nothing more
        self.eof = False  # the client has closed its side
        self.running = False  # inside _run (answers given synchronously continue its loop)
        # the message being parsed
        self.in_head = False
        self.in_message = False
        self.head_bytes = 0
        self.raw_head = 0
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_bytes = 0
        self.queued_bytes = 0
        self.continue_due = False

    # -- asyncio -----------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.listener.connections.add(self)
        self.listener.metrics.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.queue.clear()
        self.listener.connections.discard(self)
        self.listener.metrics.connections -= 1

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if self.broken or self.closed:
            return
        if self.in_head:  # this message began before: all of `data` up to its headers' end is head
            self.raw_head += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade / CONNECT: the request (complete) is answered, then the connection closes
            self._stop(None)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refuse):
                self._stop(refused.error)
            else:
                message = f"internal error: {type(refused).__name__}: {refused}"
                self._stop(RequestError(message, status=500, kind="internal"))
        except httptools.HttpParserError as exc:
            self._stop(_parse_error(exc, self.in_message))
        else:
            if self.in_head and self.raw_head > MAX_HEADER_BYTES:
                self._stop(_too_large_headers().error)
        if not self.running:
            self._run()
        if (
            self.queue
            and not self.paused
            and not self.broken
            and (
                len(self.queue) >= MAX_PIPELINED or self.queued_bytes > self.listener.max_body_bytes + MAX_HEADER_BYTES
            )
        ):
            # a client pipelining faster than we answer: stop reading until we catch up
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        if self.in_message and not self.broken:
            self._stop(
                RequestError("the request ended early: the connection closed before its end", kind="bad_request")
            )
        if self.waiting or self.queue:
            if not self.running:
                self._run()
            return True  # keep the transport open to answer; closed after the last answer
        return False

    def _stop(self, error: RequestError | None) -> None:
        """Parse nothing more: answer what is queued (then ``error``, when given), then close."""
        self.broken = True
        self.in_head = self.in_message = False
        if error is not None:
            self.queue.append(error)
        elif self.queue and isinstance(self.queue[-1], tuple):
            method, target, headers, body, _ = self.queue[-1]
            self.queue[-1] = (method, target, headers, body, False)
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    # -- llhttp callbacks ----------------------------------------------------
    def on_message_begin(self) -> None:
        self.in_head = self.in_message = True
        self.head_bytes = self.raw_head = 0
        self.url = b""
        self.headers = {}
        self.body = []
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_bytes += len(url)
        if self.head_bytes > MAX_HEADER_BYTES:
            raise _Refuse(431, "headers_too_large", f"the request target exceeds {MAX_HEADER_BYTES} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self.head_bytes + len(name) + len(value) + 4
        if size > MAX_HEADER_BYTES:
            raise _too_large_headers()
        self.head_bytes = size
        # llhttp drops the whitespace before a value, not after it
        self.headers[name.decode("latin-1").lower()] = value.rstrip(b" \t").decode("latin-1")

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise _Refuse(505, "bad_request", f"HTTP/{version} is not supported; speak HTTP/1.1")
        headers = self.headers
        length_text = headers.get("content-length")
        max_body = self.listener.max_body_bytes
        if length_text is not None and int(length_text) > max_body:  # llhttp checked it is all digits
            raise _Refuse(
                413,
                "payload_too_large",
                f"the body has {int(length_text)} bytes; this runtime takes at most {max_body} "
                "(split the request, or start it with a larger --max-body-bytes)",
            )
        if "expect" in headers and version == "1.1" and headers["expect"].lower() == "100-continue":
            if length_text != "0":
                if self.waiting or self.queue:
                    self.continue_due = True  # after the answers before it
                else:
                    self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.listener.max_body_bytes:
            max_body = self.listener.max_body_bytes
            raise _Refuse(
                413,
                "payload_too_large",
                f"the chunked body exceeds {max_body} bytes, the most this runtime takes "
                "(split the request, or start it with a larger --max-body-bytes)",
            )
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        self.continue_due = False  # the body came without waiting for a 100 Continue
        parser = self.parser
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body = []
        self.queued_bytes += len(body) + self.head_bytes
        self.queue.append(
            (
                parser.get_method().decode("ascii"),
                self.url.decode("latin-1"),
                self.headers,
                body,
                parser.should_keep_alive(),
            )
        )

    # -- dispatch in order -------------------------------------------------
    def _run(self) -> None:
        """Dispatch queued requests one at a time, in order; an answer given at once continues the loop."""
        self.running = True
        try:
            while not self.waiting and self.queue and not self.closed:
                item = self.queue.popleft()
                self.waiting = True
                self.endpoint = "other"
                self.t0 = time.perf_counter()
                if isinstance(item, RequestError):  # a framing error: the last answer on this connection
                    self.keep_alive = False
                    self.head_only = False
                    self.fail(item)
                    continue
                method, target, headers, body, self.keep_alive = item
                self.queued_bytes -= len(body)
                self.head_only = method == "HEAD"
                self.listener.dispatch(self, method, target, headers, body)
        finally:
            self.running = False
        if not self.queue:
            self.queued_bytes = 0
            if self.paused and not self.broken and not self.closed:
                self.paused = False
                self.transport.resume_reading()
            if (self.eof or self.broken) and not self.waiting:
                self.close()  # nothing more will come: the client's side is closed, or we stopped reading

    # -- answers -----------------------------------------------------------
    def send_json(self, status: int, obj: Any) -> None:
        self.send(status, dumps(obj).encode())

    def send(self, status: int, body: bytes, content_type: bytes = JSON_TYPE, extra_headers: bytes = b"") -> None:
        """Answer the request being served; ``extra_headers`` are whole ``Name: value\\r\\n`` lines."""
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
        if extra_headers:
            head.append(extra_headers)
        if status == 401:
            head.append(b'WWW-Authenticate: Bearer realm="stratum-serve"\r\n')
        if not self.keep_alive:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        if not self.head_only:
            head.append(body)
        if self.continue_due and not self.queue and self.keep_alive:
            head.append(CONTINUE)  # the request after this one waits for it; its turn is next
            self.continue_due = False
        self.transport.write(b"".join(head))
        if app.access_log:
            print(f"{self.endpoint} {status} {1000 * (time.perf_counter() - self.t0):.3f}ms", file=sys.stderr)
        self.waiting = False
        if not self.keep_alive:
            self.close()
        elif not self.running and (self.queue or self.eof or self.paused):
            # answered from a callback (the batcher): go on with the next request
            asyncio.get_running_loop().call_soon(self._run)

    def is_closed(self) -> bool:
        return self.closed

    def fail(self, error: Exception) -> None:
        if isinstance(error, RequestError):
            status, kind, message = error.status, error.kind, error.message
        else:
            status, kind, message = 500, "internal", f"internal error: {type(error).__name__}: {error}"
        self.listener.metrics.observe_error(kind)
        if status >= 500 and self.listener.access_log:
            print(f"error: {message}", file=sys.stderr)
        self.send_json(status, {"error": message})

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()


def _too_large_headers() -> _Refuse:
    return _Refuse(431, "headers_too_large", f"request headers exceed {MAX_HEADER_BYTES} bytes")
