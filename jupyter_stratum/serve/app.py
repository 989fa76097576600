"""The edge runtime's routes: OIP v2, ``/predict``, health and metrics around one model; and its CLI.

HTTP itself (parsing, keep-alive, answers in order) is :mod:`.http`; this module
decides what each request means. Prediction requests go to the micro-batcher,
which runs the model on the loop thread (see batching.py for why that makes
batching adaptive). Rows per request are limited by ``--max-rows`` (413), and any
unexpected error is answered 500 while the server goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from . import __version__
from .batching import ClientGone, MicroBatcher
from .binary import HEADER_LENGTH, attach_binary_inputs, binary_outputs, move_outputs_to_binary, split_body
from .errors import BundleLoadError, RequestError
from .http import OCTET_TYPE, PROM_TYPE, Connection, Listener, dumps
from .metrics import Metrics
from .model_loader import load_bundle
from .protocol import decode_infer, decode_predict, encode_infer, encode_predict, model_metadata, server_metadata
from .served import ServedModel
from .supervision import Supervision, SupervisionOptions
from .workers import serve_workers, worker_count


def _reject_constant(name: str) -> Any:
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
        idle_timeout: float = 60.0,
        access_log: bool = False,
        supervision: SupervisionOptions | None = None,
    ):
        self.model = model
        self.token = token.encode() if token else None
        self.max_body_bytes = int(max_body_bytes)
        self.max_batch_size = max_batch_size
        self.idle_timeout = idle_timeout
        self.access_log = access_log
        self.metrics = Metrics(model.name, model.version, model.backend)
        # -- supervision hook: request ids, drift, labels, capture (serve/supervision.py)
        self.supervision = Supervision(model, supervision)
        self.metrics.extra.append(self.supervision.render_metrics)
        if (
            model.pipeline_metrics is not None
        ):  # a pipeline bundle's per-step figures, from here on (not the start-up check)
            model.pipeline_metrics = type(model.pipeline_metrics)(model.pipeline_metrics.steps)
            self.metrics.extra.append(model.pipeline_metrics.render)
        self.ready = True
        self.listener = Listener(
            self.dispatch,
            self.metrics,
            max_body_bytes=self.max_body_bytes,
            idle_timeout=idle_timeout,
            access_log=access_log,
        )
        self.batcher: MicroBatcher | None = None
        #: () -> gRPC calls in progress (set when the gRPC service starts)
        self.grpc_calls: Callable[[], int] = lambda: 0
        self.metadata_body = dumps(model_metadata(model)).encode()
        self.server_body = dumps(server_metadata(__version__)).encode()
        self.model_paths = {
            f"/v2/models/{model.name}",
            f"/v2/models/{model.name}/versions/{model.version}",
        }

    # -- lifecycle ---------------------------------------------------------
    async def start(self, host: str, port: int, reuse_port: bool = False):
        """Listen on ``host:port``; ``reuse_port``: one of several worker processes sharing the port."""
        loop = asyncio.get_running_loop()
        self.batcher = MicroBatcher(loop, self.model, max_batch_size=self.max_batch_size, metrics=self.metrics)
        connections = self.listener.connections
        self.batcher.solo = lambda: len(connections) + self.grpc_calls() <= 1
        server = await loop.create_server(
            self.listener.protocol, host, port, backlog=1024, reuse_address=True, reuse_port=reuse_port or None
        )
        loop.call_later(1.0, self.listener.sweep)
        return server

    # -- routing -------------------------------------------------------------
    def dispatch(self, conn: Connection, method: str, target: str, headers: dict, body: bytes) -> None:
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
                    self._infer(conn, body, headers)
                    return
                if action in ("drift", "feedback", "capture", "shadow"):  # -- supervision hook
                    self._known_model(base)
                    self._supervision_route(conn, method, action, headers, body)
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
            name, sep, version = path[len("/v2/models/") :].partition("/versions/")
            if sep and name == self.model.name:
                raise RequestError(
                    f"model '{name}' has no version {version!r}; this runtime serves version {self.model.version}",
                    status=404,
                    kind="not_found",
                )
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
    def _parse_json(body: bytes, hint: str = "") -> Any:
        if not body:
            raise RequestError("the request has no body; send a JSON object")
        try:
            return _loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(f"the body is not UTF-8 text; send JSON encoded as UTF-8{hint}") from None
        except ValueError as exc:
            raise RequestError(f"the body is not valid JSON: {exc}{hint}") from None
        except RecursionError:
            raise RequestError("the body is nested too deeply") from None

    def _supervision_route(self, conn: Connection, method: str, action: str, headers: dict, body: bytes) -> None:
        if action == "drift":
            conn.endpoint = "metadata"
            self._allow(method, "GET")
            conn.send_json(200, self.supervision.drift_json())
            return
        if action == "shadow":
            conn.endpoint = "metadata"
            self._allow(method, "GET")
            conn.send_json(200, self.supervision.shadow_json())
            return
        if action == "capture":  # served rows may hold personal data: only with a token, and the token
            conn.endpoint = "metadata"
            if self.token is None:
                raise RequestError(
                    "reading the capture needs a bearer token: start the runtime with --token-file "
                    "(or STRATUM_SERVE_TOKEN)",
                    status=403,
                    kind="unauthorized",
                )
            self._check(method, "GET", headers)
            conn.send_json(200, self.supervision.capture_json())
            return
        conn.endpoint = "feedback"
        if self.token is None:  # labels feed retraining: never from an anonymous caller
            raise RequestError(
                "sending labels needs a bearer token: start the runtime with --token-file "
                "(or STRATUM_SERVE_TOKEN) and send it as 'Authorization: Bearer <token>'",
                status=403,
                kind="unauthorized",
            )
        self._check(method, "POST", headers)  # the same token as /predict
        conn.send_json(200, self.supervision.add_feedback(self._parse_json(body)))

    def _predict(self, conn: Connection, body: bytes) -> None:
        batch, n = decode_predict(self._parse_json(body), self.model)
        model = self.model
        supervision = self.supervision
        request_id = supervision.new_id()

        def done(result, error):
            if error is not None:
                conn.fail(error)
            else:
                answer = encode_predict(model, result[0], result[1])
                answer["id"] = request_id
                conn.send_json(200, answer)
                supervision.observe(request_id, batch, result[0])  # after the answer is sent

        self._submit(conn, batch, n, done)

    def _infer(self, conn: Connection, body: bytes, headers: dict) -> None:
        header, tail = split_body(body, headers.get(HEADER_LENGTH))
        if tail is None:
            hint = " (binary tensors follow the JSON: give its size in Inference-Header-Content-Length)"
            request = self._parse_json(header, hint)
        else:
            try:
                request = self._parse_json(header)
            except RequestError as exc:
                where = f"the JSON header (the first {len(header)} bytes, as Inference-Header-Content-Length says)"
                raise RequestError(exc.message.replace("the body", where, 1)) from None
        if isinstance(request, dict):
            attach_binary_inputs(request, tail)
        batch, n, request_id, wanted = decode_infer(request, self.model)
        binary = binary_outputs(request, wanted)
        params = request.get("parameters") if isinstance(request, dict) else None
        trace = isinstance(params, dict) and params.get("trace") is True and self.model.last_trace is not None
        model = self.model
        supervision = self.supervision
        if request_id is None:  # OIP: the client's id if it sent one, else ours
            request_id = supervision.new_id()

        def done(result, error):
            if error is not None:
                conn.fail(error)
                return
            response = encode_infer(model, result[0], result[1], request_id, wanted)
            if trace:  # the steps of the batch these rows ran in (the batcher answers right after it ran)
                response.setdefault("parameters", {})["trace"] = model.last_trace
            if not binary:
                conn.send_json(200, response)
            else:
                response, parts = move_outputs_to_binary(response, binary)
                head = dumps(response).encode()
                length = b"Inference-Header-Content-Length: %d\r\n" % len(head)
                conn.send(200, b"".join([head, *parts]), OCTET_TYPE, length)
            supervision.observe(request_id, batch, result[0])  # after the answer is sent

        self._submit(conn, batch, n, done)

    def _submit(self, conn: Connection, batch: Any, n: int, done: Callable[[Any, Any], None]) -> None:
        """Queue an HTTP request's rows; ``done`` answers on ``conn`` (an error it raises is answered 500)."""

        def answer(result, error):
            try:
                done(result, error)
            except Exception as exc:  # noqa: BLE001 - e.g. a NaN prediction JSON cannot carry
                conn.fail(RequestError(f"internal error: {type(exc).__name__}: {exc}", status=500, kind="internal"))

        self.submit(batch, n, answer, conn.is_closed)

    def submit(self, batch: Any, n: int, done: Callable[[Any, Any], None], gone: Callable[[], bool]) -> None:
        """Queue checked rows for the micro-batcher, whatever protocol brought them: ``done((predictions,
        probabilities), None)`` or ``done(None, error)`` on the loop thread; rows of a caller that is
        ``gone()`` before their turn are dropped (and counted as client_gone)."""
        batcher = self.batcher
        if batcher is None:
            raise RequestError("the server is not started yet", status=503, kind="unavailable")
        metrics = self.metrics
        metrics.in_flight += 1

        def finish(result, error):
            metrics.in_flight -= 1
            if isinstance(error, ClientGone):
                metrics.observe_error("client_gone")
                return
            done(result, error)

        batcher.submit(batch, n, finish, gone)


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
    p.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, help="larger bodies get 413 (default 8 MiB)")
    p.add_argument("--max-rows", type=int, default=10000, help="rows per request; more get 413 (default 10000)")
    p.add_argument("--idle-timeout", type=float, default=60.0, help="close idle connections after N s (default 60)")
    p.add_argument("--threads", type=int, default=1, help="threads the model may use per batch (default 1)")
    p.add_argument(
        "--token-file", help="file holding a bearer token required by /predict and /infer (or set STRATUM_SERVE_TOKEN)"
    )
    p.add_argument(
        "--grpc-port",
        type=int,
        help="also serve OIP over gRPC on this port (0 picks a free one; needs grpcio and protobuf)",
    )
    p.add_argument(
        "--workers",
        default="1",
        help="serving processes sharing the port(s) (SO_REUSEPORT; each loads the model): a number, or 'auto' "
        "for one per CPU core (default 1)",
    )
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the bundle's files at start")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    # -- supervision (serve/supervision.py)
    p.add_argument("--no-drift", action="store_true", help="do not track drift of served rows from the reference")
    p.add_argument("--drift-window", type=int, default=200, help="served rows per feature compared (default 200)")
    p.add_argument("--drift-check-every", type=int, default=50, help="rows between drift checks (default 50)")
    p.add_argument(
        "--drift-ert",
        type=float,
        default=1_000_000,
        help="expected in-distribution rows between two false drift alarms (default 1000000)",
    )
    p.add_argument(
        "--drift-min-interval-ms", type=float, default=20.0, help="at least this long between drift checks (default 20)"
    )
    p.add_argument("--label-window", type=int, default=500, help="labelled rows the live metric covers (default 500)")
    p.add_argument(
        "--capture",
        type=int,
        default=0,
        metavar="N",
        help="keep the last N served rows, predictions and labels on disk for retraining (default 0: off)",
    )
    p.add_argument("--capture-dir", help="where --capture writes (default: BUNDLE/capture)")
    p.add_argument(
        "--shadow", metavar="BUNDLE", help="a candidate bundle scoring every request in shadow (answers not returned)"
    )
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
        workers = worker_count(args.workers)
    except ValueError as exc:
        print(f"stratum-serve: {exc}", file=sys.stderr)
        return 2
    if workers == 1:
        return _run_worker(args, token)
    return serve_workers(
        workers,
        args.host,
        args.port,
        args.grpc_port,
        lambda port, grpc_port, ready: _run_worker(args, token, port, grpc_port, ready),
    )


def _run_worker(args, token: str | None, port: int | None = None, grpc_port: int | None = None, ready=None) -> int:
    """Load the bundle and serve it until SIGTERM; ``ready()`` (workers) instead of the start-up lines."""
    grpc_port = args.grpc_port if grpc_port is None else grpc_port
    if grpc_port is not None:
        from .grpc_server import import_grpc

        try:
            import_grpc()
        except BundleLoadError as exc:
            print(f"stratum-serve: {exc}", file=sys.stderr)
            return 2
    try:
        model = load_bundle(
            args.bundle, backend=args.backend, verify=not args.no_verify, threads=args.threads, max_rows=args.max_rows
        )
        shadow = (
            load_bundle(
                args.shadow,
                backend=args.backend,
                verify=not args.no_verify,
                threads=args.threads,
                max_rows=args.max_rows,
            )
            if args.shadow
            else None
        )
    except BundleLoadError as exc:
        print(f"stratum-serve: {exc}", file=sys.stderr)
        return 2
    app = ServeApp(
        model,
        token=token,
        max_body_bytes=args.max_body_bytes,
        max_batch_size=args.max_batch_size,
        idle_timeout=args.idle_timeout,
        access_log=args.access_log,
        supervision=SupervisionOptions(
            drift=not args.no_drift,
            window=args.drift_window,
            check_every=args.drift_check_every,
            ert_rows=args.drift_ert,
            min_interval_s=args.drift_min_interval_ms / 1000.0,
            capture=args.capture,
            capture_dir=args.capture_dir,
            label_window=args.label_window,
            shadow=shadow,
        ),
    )
    return asyncio.run(_serve(app, args.host, args.port if port is None else port, grpc_port, ready))


async def _serve(
    app: ServeApp, host: str, port: int, grpc_port: int | None = None, ready: Callable[[str], None] | None = None
) -> int:
    """Serve until SIGTERM. The start-up lines go to stdout, or (a worker) to ``ready(lines)``."""
    try:
        server = await app.start(host, port, reuse_port=ready is not None)
    except OSError as exc:
        print(f"stratum-serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    grpc_server = None
    lines = []
    if grpc_port is not None:
        from .grpc_server import GrpcService

        service = GrpcService(app)
        try:
            grpc_server, bound_grpc = await service.start(host, grpc_port)
        except (OSError, RuntimeError) as exc:
            print(f"stratum-serve: cannot listen for gRPC on {host}:{grpc_port}: {exc}", file=sys.stderr)
            server.close()
            return 2
        app.grpc_calls = lambda: service.active
        lines.append(f"stratum-serve: OIP gRPC listening on {host}:{bound_grpc}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    bound = server.sockets[0].getsockname()
    m = app.model
    lines.append(
        f"stratum-serve {__version__}: model {m.name} version {m.version} ({m.task}, backend {m.backend}) "
        f"listening on http://{bound[0]}:{bound[1]}"
    )
    if ready is None:
        print("\n".join(lines), flush=True)
    else:
        ready("\n".join(lines))
    await stop.wait()
    app.ready = False
    server.close()
    if grpc_server is not None:
        await grpc_server.stop(grace=1.0)
    app.listener.close_all()
    await server.wait_closed()
    return 0
