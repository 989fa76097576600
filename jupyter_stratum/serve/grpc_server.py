"""OIP v2 over gRPC (KServe's ``inference.GRPCInferenceService``), on ``--grpc-port``.

ServerLive, ServerReady, ServerMetadata, ModelMetadata, ModelReady and ModelInfer, served by
``grpc.aio`` on the same event loop as HTTP: a ModelInfer request is checked by the same
code as an HTTP ``/infer`` (its tensors become the same request object), goes to the same
micro-batcher (so gRPC and HTTP rows share model calls) and is counted in the same
``/metrics`` (endpoints ``grpc_infer`` and ``grpc_metadata``; ``code`` is the HTTP status the
same answer would have had). Tensors arrive as ``raw_input_contents`` (what Triton's client
sends) or typed ``contents``; outputs are answered as ``raw_output_contents``.

gRPC is optional in the runtime: this module needs ``grpcio`` and ``protobuf``, imported only
when ``--grpc-port`` is given. ``grpc_predict_v2_pb2`` is generated from
``grpc_predict_v2.proto`` (``make proto``).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import TYPE_CHECKING, Any

from .binary import decode_tensor, encode_tensor
from .errors import BundleLoadError, RequestError
from .protocol import decode_infer, encode_infer, model_metadata, server_metadata

if TYPE_CHECKING:
    from .app import ServeApp

SERVICE = "inference.GRPCInferenceService"
#: typed ``contents`` field per datatype
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def import_grpc() -> tuple[Any, Any]:
    """(grpc, the generated messages), or BundleLoadError saying what to install."""
    try:
        import grpc
        from grpc import aio  # noqa: F401 - grpc.aio is a submodule: import it before use

        from . import grpc_predict_v2_pb2 as pb
    except ImportError as exc:
        raise BundleLoadError(
            f"--grpc-port needs grpcio and protobuf ({exc}); install them (pip install grpcio protobuf, "
            "or the bundle's requirements with the grpc extra), or serve HTTP only"
        ) from None
    return grpc, pb


class GrpcService:
    """The six OIP methods around a :class:`ServeApp`'s model, batcher and metrics."""

    def __init__(self, app: ServeApp):
        self.grpc, self.pb = import_grpc()
        self.app = app
        self.active = 0  # calls in progress (the batcher answers a lone caller at once)
        self.status_codes = {
            400: self.grpc.StatusCode.INVALID_ARGUMENT,
            401: self.grpc.StatusCode.UNAUTHENTICATED,
            404: self.grpc.StatusCode.NOT_FOUND,
            413: self.grpc.StatusCode.RESOURCE_EXHAUSTED,
            503: self.grpc.StatusCode.UNAVAILABLE,
        }

    # -- server ------------------------------------------------------------
    async def start(self, host: str, port: int) -> tuple[Any, int]:
        """Listen on ``host:port`` (0: a free port); returns the server and the port bound."""
        limit = self.app.max_body_bytes
        server = self.grpc.aio.server(
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", -1)]
        )
        server.add_generic_rpc_handlers((self.handler(),))
        bound = server.add_insecure_port(f"{host}:{port}")
        if not bound:
            raise OSError(f"cannot listen for gRPC on {host}:{port}")
        await server.start()
        return server, bound

    def handler(self) -> Any:
        pb, grpc = self.pb, self.grpc
        methods = {
            "ServerLive": (pb.ServerLiveRequest, self.server_live),
            "ServerReady": (pb.ServerReadyRequest, self.server_ready),
            "ModelReady": (pb.ModelReadyRequest, self.model_ready),
            "ServerMetadata": (pb.ServerMetadataRequest, self.server_metadata),
            "ModelMetadata": (pb.ModelMetadataRequest, self.model_metadata),
            "ModelInfer": (pb.ModelInferRequest, self.model_infer),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    self._guarded(name, fn),
                    request_deserializer=message.FromString,
                    response_serializer=_serialize,
                )
                for name, (message, fn) in methods.items()
            },
        )

    def _guarded(self, name: str, fn):
        """Run one method: RequestError -> the matching gRPC status; count it in the metrics."""
        endpoint = "grpc_infer" if name == "ModelInfer" else "grpc_metadata"
        metrics = self.app.metrics

        async def call(request, context):
            t0 = time.perf_counter()
            self.active += 1
            try:
                response = await fn(request, context)
            except RequestError as exc:
                metrics.observe_error(exc.kind)
                metrics.observe_request(endpoint, exc.status, time.perf_counter() - t0)
                code = self.status_codes.get(exc.status, self.grpc.StatusCode.INTERNAL)
                await context.abort(code, exc.message)
            except asyncio.CancelledError:
                metrics.observe_error("client_gone")
                raise
            except Exception as exc:  # noqa: BLE001 - never let one call kill the server
                if isinstance(exc, self.grpc.aio.AbortError):
                    raise
                metrics.observe_error("internal")
                metrics.observe_request(endpoint, 500, time.perf_counter() - t0)
                await context.abort(self.grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
            else:
                metrics.observe_request(endpoint, 200, time.perf_counter() - t0)
                return response
            finally:
                self.active -= 1

        return call

    # -- the methods -------------------------------------------------------------
    async def server_live(self, request, context):
        return self.pb.ServerLiveResponse(live=True)

    async def server_ready(self, request, context):
        return self.pb.ServerReadyResponse(ready=self.app.ready)

    async def server_metadata(self, request, context):
        from . import __version__

        meta = server_metadata(__version__)
        return self.pb.ServerMetadataResponse(name=meta["name"], version=meta["version"], extensions=meta["extensions"])

    async def model_ready(self, request, context):
        self._known(request.name, request.version)
        return self.pb.ModelReadyResponse(ready=self.app.ready)

    async def model_metadata(self, request, context):
        self._known(request.name, request.version)
        meta = model_metadata(self.app.model)
        tensor = self.pb.ModelMetadataResponse.TensorMetadata
        return self.pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["inputs"]],
            outputs=[tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["outputs"]],
        )

    async def model_infer(self, request, context):
        app = self.app
        self._known(request.model_name, request.model_version)
        if app.token is not None:
            self._authorize(context, app.token)
        body = self._as_request(request)
        batch, n, request_id, wanted = decode_infer(body, app.model)
        # OIP: the client's id if it sent one, else ours (feedback refers to it)
        request_id = request.id or request_id or app.supervision.new_id()
        future = asyncio.get_running_loop().create_future()

        def done(result, error):
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

        app.submit(batch, n, done, future.cancelled)
        predictions, probabilities = await future
        response = encode_infer(app.model, predictions, probabilities, request_id, wanted)
        app.supervision.observe(request_id, batch, predictions)  # drift, live metric, capture: as over HTTP
        out_tensor = self.pb.ModelInferResponse.InferOutputTensor
        return self.pb.ModelInferResponse(
            model_name=response["model_name"],
            model_version=response["model_version"],
            id=str(request_id),
            outputs=[out_tensor(name=o["name"], datatype=o["datatype"], shape=o["shape"]) for o in response["outputs"]],
            raw_output_contents=[encode_tensor(o["data"], o["datatype"]) for o in response["outputs"]],
        )

    # -- helpers -------------------------------------------------------------
    def _known(self, name: str, version: str) -> None:
        model = self.app.model
        if name != model.name:
            raise RequestError(
                f"unknown model {name!r}; this runtime serves '{model.name}' version {model.version}",
                status=404,
                kind="not_found",
            )
        if version and version != model.version:
            raise RequestError(
                f"model '{name}' has no version {version!r}; this runtime serves version {model.version}",
                status=404,
                kind="not_found",
            )

    def _authorize(self, context, token: bytes) -> None:
        given = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                scheme, _, given = str(value).partition(" ")
                if scheme.lower() != "bearer":
                    given = ""
        if not hmac.compare_digest(given.strip().encode(), token):
            raise RequestError(
                "missing or wrong bearer token: send the metadata 'authorization: Bearer <token>'",
                status=401,
                kind="unauthorized",
            )

    def _as_request(self, request) -> dict:
        """The OIP request object of a ModelInferRequest (what ``decode_infer`` checks over HTTP)."""
        raw = request.raw_input_contents
        if raw and len(raw) != len(request.inputs):
            raise RequestError(
                f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; send one per input, "
                "in input order"
            )
        inputs = []
        for i, t in enumerate(request.inputs):
            where = f"inputs[{i}] ('{t.name}')"
            shape = list(t.shape)
            if any(d < 0 for d in shape):
                raise RequestError(f"{where}.shape must be non-negative integers, got {shape}")
            if raw:
                if t.HasField("contents"):
                    raise RequestError(f"{where} has contents beside raw_input_contents; send the tensor one way")
                data = decode_tensor(raw[i], t.datatype, shape, where)
            else:
                field = CONTENTS_FIELD.get(t.datatype)
                if field is None:
                    raise RequestError(f"{where}: datatype {t.datatype!r} has no typed contents; send it raw")
                data = list(getattr(t.contents, field))
                if t.datatype == "BYTES":
                    try:
                        data = [v.decode("utf-8") for v in data]
                    except UnicodeDecodeError:
                        raise RequestError(f"{where}: a BYTES element is not UTF-8 text") from None
            inputs.append({"name": t.name, "shape": shape, "datatype": t.datatype, "data": data})
        body: dict = {"inputs": inputs}
        if request.outputs:
            body["outputs"] = [{"name": o.name} for o in request.outputs]
        return body


def _serialize(message) -> bytes:
    return message.SerializeToString()
