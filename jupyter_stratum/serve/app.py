"""The HTTP/1.1 server: asyncio streams-free protocol, keep-alive, one event loop.

Why not ``http.server``: its per-request header parsing (``email.parser``) and a
thread per connection cost more than a logistic regression takes to predict. A
small ``asyncio.Protocol`` parses the request line and headers itself, keeps
connections alive, answers requests on a connection in order, and hands
prediction requests to the micro-batcher, which runs the model on the loop
thread (see batching.py for why that makes batching adaptive).

Limits that keep it alive under bad clients: header block <= 64 KiB (431),
body <= ``--max-body-bytes`` (413, checked from Content-Length before reading),
rows per request <= ``--max-rows`` (413), idle or stalled connections closed
after ``--idle-timeout`` seconds, and any unexpected error answered 500 while
the server goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import signal
import sys
import time
from typing import Any

from . import __version__
from .batching import ClientGone, MicroBatcher
from .errors import BundleLoadError, RequestError
from .metrics import Metrics
from .model_loader import ServedModel, load_bundle
from .protocol import decode_infer, decode_predict, encode_infer, encode_predict, model_metadata, server_metadata

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
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON; send finite numbers")


_loads = json.JSONDecoder(parse_constant=_reject_constant).decode


class ServeApp:
    """Routes, auth and limits around one :class:`ServedModel`."""

    def __init__(
        self,
        model: ServedModel,
        *,
        token: str | None = None,
        max_body_bytes: int = 8 * 1024 * 1024,
        max_batch_size: int = 64,
        max_wait_ms: float = 1.0,
        idle_timeout: float = 60.0,
        access_log: bool = False,
    ):
        self.model = model
        self.token = token.encode() if token else None
        self.max_body_bytes = int(max_body_bytes)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.idle_timeout = idle_timeout
        self.access_log = access_log
        self.metrics = Metrics(model.name, model.version, model.backend)
        self.ready = True
        self.connections: set[_Connection] = set()
        self.batcher: MicroBatcher | None = None
        self.metadata_body = _dumps(model_metadata(model)).encode()
        self.server_body = _dumps(server_metadata(__version__)).encode()
        self.model_paths = {
            f"/v2/models/{model.name}",
            f"/v2/models/{model.name}/versions/{model.version}",
        }

    # -- lifecycle ---------------------------------------------------------
    async def start(self, host: str, port: int):
        loop = asyncio.get_running_loop()
        self.batcher = MicroBatcher(
            loop, self.model, max_batch_size=self.max_batch_size, max_wait=self.max_wait, metrics=self.metrics
        )
        self.batcher.solo = lambda: len(self.connections) <= 1
        server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024, reuse_address=True)
        loop.call_later(1.0, self._sweep)
        return server

    def _sweep(self) -> None:
        """Close connections idle (or stalled mid-request) for longer than idle_timeout."""
        now = time.monotonic()
        for conn in list(self.connections):
            if not conn.waiting and now - conn.last_activity > self.idle_timeout:
                conn.close()
        asyncio.get_running_loop().call_later(min(5.0, max(0.1, self.idle_timeout / 4)), self._sweep)

    # -- routing -------------------------------------------------------------
    def dispatch(self, conn: _Connection, method: str, target: str, headers: dict, body: bytes) -> None:
        path = target.split("?", 1)[0]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        try:
            if path == "/predict":
                conn.endpoint = "predict"
                self._check(method, "POST", headers)
                self._predict(conn, body)
                return
            if path.startswith("/v2/models/"):
                base, _, action = path.rpartition("/")
                if action == "infer":
                    conn.endpoint = "infer"
                    self._known_model(base)
                    self._check(method, "POST", headers)
                    self._infer(conn, body)
                    return
                conn.endpoint = "metadata"
                if action == "ready":
                    self._known_model(base)
                    self._allow(method, "GET")
                    conn.send_json(200, {"name": self.model.name, "ready": self.ready})
                    return
                self._known_model(path)
                self._allow(method, "GET")
                conn.send(200, self.metadata_body)
                return
            if path == "/v2/health/live":
                conn.endpoint = "health"
                self._allow(method, "GET")
                conn.send_json(200, {"live": True})
                return
            if path == "/v2/health/ready":
                conn.endpoint = "health"
                self._allow(method, "GET")
                conn.send_json(200 if self.ready else 503, {"ready": self.ready})
                return
            if path == "/metrics":
                conn.endpoint = "metrics"
                self._allow(method, "GET")
                conn.send(200, self.metrics.render().encode(), PROM_TYPE)
                return
            if path in ("/v2", "/"):
                conn.endpoint = "metadata"
                self._allow(method, "GET")
                conn.send(200, self.server_body)
                return
            conn.endpoint = "other"
            raise RequestError(
                f"no endpoint {path}; use POST /predict, POST /v2/models/{self.model.name}/infer, "
                "GET /v2/health/ready or GET /metrics",
                status=404,
                kind="not_found",
            )
        except RequestError as exc:
            conn.fail(exc)
        except Exception as exc:  # noqa: BLE001 - never let one request kill the server
            conn.fail(RequestError(f"internal error: {type(exc).__name__}: {exc}", status=500, kind="internal"))

    def _known_model(self, path: str) -> None:
        if path not in self.model_paths:
            raise RequestError(
                f"unknown model {path[len('/v2/models/') :]!r}; this runtime serves '{self.model.name}' "
                f"version {self.model.version}",
                status=404,
                kind="not_found",
            )

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method != allowed and not (allowed == "GET" and method == "HEAD"):
            raise RequestError(
                f"method {method} is not allowed here; use {allowed}", status=405, kind="method_not_allowed"
            )

    def _check(self, method: str, allowed: str, headers: dict) -> None:
        self._allow(method, allowed)
        if self.token is not None:
            auth = headers.get("authorization", "")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token):
                raise RequestError(
                    "missing or wrong bearer token: send the header 'Authorization: Bearer <token>'",
                    status=401,
                    kind="unauthorized",
                )

    @staticmethod
    def _parse_json(body: bytes) -> Any:
        if not body:
            raise RequestError("the request has no body; send a JSON object")
        try:
            return _loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError("the body is not UTF-8 text; send JSON encoded as UTF-8") from None
        except ValueError as exc:
            raise RequestError(f"the body is not valid JSON: {exc}") from None
        except RecursionError:
            raise RequestError("the body is nested too deeply") from None

    def _predict(self, conn: _Connection, body: bytes) -> None:
        batch, n = decode_predict(self._parse_json(body), self.model)
        model = self.model

        def done(result, error):
            if error is not None:
                conn.fail(error)
            else:
                conn.send_json(200, encode_predict(model, result[0], result[1]))

        self._submit(conn, batch, n, done)

    def _infer(self, conn: _Connection, body: bytes) -> None:
        batch, n, request_id, wanted = decode_infer(self._parse_json(body), self.model)
        model = self.model

        def done(result, error):
            if error is not None:
                conn.fail(error)
            else:
                conn.send_json(200, encode_infer(model, result[0], result[1], request_id, wanted))

        self._submit(conn, batch, n, done)

    def _submit(self, conn, batch, n, done) -> None:
        self.metrics.in_flight += 1

        def finish(result, error):
            self.metrics.in_flight -= 1
            if isinstance(error, ClientGone):
                self.metrics.observe_error("client_gone")
                return
            try:
                done(result, error)
            except Exception as exc:  # noqa: BLE001 - e.g. a NaN prediction JSON cannot carry
                conn.fail(RequestError(f"internal error: {type(exc).__name__}: {exc}", status=500, kind="internal"))

        self.batcher.submit(batch, n, finish, conn.is_closed)


class _Connection(asyncio.Protocol):
    """One client connection: parse, dispatch, answer in order, keep alive."""

    __slots__ = (
        "app",
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

    def __init__(self, app: ServeApp):
        self.app = app
        self.transport = None
        self.buf = bytearray()
        self.waiting = False
        self.keep_alive = True
        self.closed = False
        self.endpoint = "other"
        self.t0 = 0.0
        self.last_activity = time.monotonic()
        self.head_only = False
        self.paused = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.app.connections.add(self)
        self.app.metrics.connections += 1

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.app.connections.discard(self)
        self.app.metrics.connections -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.last_activity = time.monotonic()
        if not self.waiting:
            self._parse()
        elif len(self.buf) > self.app.max_body_bytes + MAX_HEADER_BYTES and not self.paused:
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
            if length > self.app.max_body_bytes:
                self._reject(
                    413,
                    "payload_too_large",
                    f"the body has {length} bytes; this runtime takes at most {self.app.max_body_bytes} "
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
            self.app.dispatch(self, method, target, headers, body)

    # -- answers -----------------------------------------------------------
    def send_json(self, status: int, obj: Any) -> None:
        self.send(status, _dumps(obj).encode())

    def send(self, status: int, body: bytes, content_type: bytes = JSON_TYPE) -> None:
        app = self.app
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
            self.app_loop_soon()

    def is_closed(self) -> bool:
        return self.closed

    def app_loop_soon(self) -> None:
        asyncio.get_running_loop().call_soon(self._parse)

    def fail(self, error: Exception) -> None:
        if isinstance(error, RequestError):
            status, kind, message = error.status, error.kind, error.message
        else:
            status, kind, message = 500, "internal", f"internal error: {type(error).__name__}: {error}"
        self.app.metrics.observe_error(kind)
        if status >= 500 and self.app.access_log:
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


# ---------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stratum_serve",
        description="Serve a jupyter-stratum model bundle: Open Inference Protocol v2, /predict, /metrics.",
    )
    p.add_argument("bundle", help="path to the bundle directory (holds manifest.json)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8500, help="TCP port (default 8500; 0 picks a free one)")
    p.add_argument(
        "--backend",
        choices=("auto", "onnx", "native", "tflite"),
        default="auto",
        help="auto: ONNX Runtime when a scikit-learn bundle has a verified ONNX copy, else the native "
        "model (for Keras bundles the .keras network; tflite: its verified TFLite copy)",
    )
    p.add_argument("--max-batch-size", type=int, default=64, help="rows merged into one model call (default 64)")
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=1.0,
        help="under load, how long a batch may wait to fill (default 1.0; 0 = never wait)",
    )
    p.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, help="larger bodies get 413 (default 8 MiB)")
    p.add_argument("--max-rows", type=int, default=10000, help="rows per request; more get 413 (default 10000)")
    p.add_argument("--idle-timeout", type=float, default=60.0, help="close idle connections after N s (default 60)")
    p.add_argument("--threads", type=int, default=1, help="threads the model may use per batch (default 1)")
    p.add_argument(
        "--token-file", help="file holding a bearer token required by /predict and /infer (or set STRATUM_SERVE_TOKEN)"
    )
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the bundle's files at start")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    token = os.environ.get("STRATUM_SERVE_TOKEN") or None
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as fh:
                token = fh.read().strip() or None
        except OSError as exc:
            print(f"stratum-serve: cannot read --token-file: {exc}", file=sys.stderr)
            return 2
    try:
        model = load_bundle(
            args.bundle, backend=args.backend, verify=not args.no_verify, threads=args.threads, max_rows=args.max_rows
        )
    except BundleLoadError as exc:
        print(f"stratum-serve: {exc}", file=sys.stderr)
        return 2
    app = ServeApp(
        model,
        token=token,
        max_body_bytes=args.max_body_bytes,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        idle_timeout=args.idle_timeout,
        access_log=args.access_log,
    )
    return asyncio.run(_serve(app, args.host, args.port))


async def _serve(app: ServeApp, host: str, port: int) -> int:
    try:
        server = await app.start(host, port)
    except OSError as exc:
        print(f"stratum-serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    bound = server.sockets[0].getsockname()
    m = app.model
    print(
        f"stratum-serve {__version__}: model {m.name} version {m.version} ({m.task}, backend {m.backend}) "
        f"listening on http://{bound[0]}:{bound[1]}",
        flush=True,
    )
    await stop.wait()
    app.ready = False
    server.close()
    for conn in list(app.connections):
        conn.close()
    await server.wait_closed()
    return 0
