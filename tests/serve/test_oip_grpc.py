"""OIP v2 over gRPC, spoken by Triton's own gRPC client with its default settings (raw tensor
contents), beside HTTP on one runtime: the same model, batcher and metrics.

Predictions are compared with the fitted model's own ``predict`` / ``predict_proba``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _helpers import records_of

grpcclient = pytest.importorskip("tritonclient.grpc")


def _grpc_port(server) -> int:
    found = [re.search(r"OIP gRPC listening on [\d.]+:(\d+)", line) for line in server.log]
    return int(next(m for m in found if m).group(1))


def _raw_infer(server, request, metadata: dict):
    """A ModelInferRequest sent as is (Triton's client checks sizes before sending)."""
    import grpc
    from tritonclient.grpc import service_pb2

    with grpc.insecure_channel(f"{server.host}:{_grpc_port(server)}") as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=service_pb2.ModelInferRequest.SerializeToString,
            response_deserializer=service_pb2.ModelInferResponse.FromString,
        )
        try:
            return call(request, metadata=list(metadata.items()))
        except grpc.RpcError as exc:
            raise grpcclient.InferenceServerException(msg=exc.details(), status=str(exc.code())) from None


def test_triton_grpc_client_defaults(serve, churn_bundle, churn):
    server = serve(churn_bundle.path, "--grpc-port", "0", token="grpc-token")
    client = grpcclient.InferenceServerClient(f"{server.host}:{_grpc_port(server)}")
    auth = {"authorization": "Bearer grpc-token"}
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("churn") and client.is_model_ready("churn", "1")
    meta = client.get_server_metadata()
    assert meta.name == "stratum-serve" and "binary_tensor_data" in meta.extensions
    model_meta = client.get_model_metadata("churn", "1")
    assert model_meta.versions == ["1"]
    assert {t.name: t.datatype for t in model_meta.inputs} == {
        "age": "FP64",
        "visits": "INT64",
        "plan": "BYTES",
        "spend": "FP64",
    }
    assert [(t.name, list(t.shape)) for t in model_meta.outputs] == [("predict", [-1]), ("predict_proba", [-1, 2])]

    X = churn.X_test
    inputs = []
    for name, datatype, values in [
        ("age", "FP64", X.age.to_numpy(np.float64)),
        ("visits", "INT64", X.visits.to_numpy(np.int64)),
        ("plan", "BYTES", X.plan.to_numpy(object)),
        ("spend", "FP64", X.spend.to_numpy(np.float64)),
    ]:
        inputs.append(grpcclient.InferInput(name, [len(X)], datatype).set_data_from_numpy(values))
    result = client.infer("churn", inputs, request_id="g-1", headers=auth)
    assert result.get_response().id == "g-1" and result.get_response().model_version == "1"
    assert [v.decode() for v in result.as_numpy("predict")] == churn.model.predict(X).tolist()
    assert np.abs(result.as_numpy("predict_proba") - churn.model.predict_proba(X)).max() <= 1e-5
    # one output asked for, a version given
    only = client.infer(
        "churn", inputs, model_version="1", outputs=[grpcclient.InferRequestedOutput("predict_proba")], headers=auth
    )
    assert only.as_numpy("predict") is None and only.as_numpy("predict_proba").shape == (len(X), 2)

    # errors carry the reason as gRPC status, and the server goes on
    from tritonclient.grpc import service_pb2

    short_age = service_pb2.ModelInferRequest(model_name="churn")
    for t in inputs:
        short_age.inputs.add(name=t.name(), datatype=t.datatype(), shape=t.shape())
    short_age.raw_input_contents.extend(
        [X.age.to_numpy(np.float64).tobytes()[:12]] + [t._get_content() for t in inputs[1:]]
    )
    errors = [
        (lambda: client.infer("churn", inputs), "UNAUTHENTICATED", "bearer token"),
        (lambda: client.infer("nope", inputs, headers=auth), "NOT_FOUND", "unknown model 'nope'"),
        (lambda: client.infer("churn", inputs, model_version="7", headers=auth), "NOT_FOUND", "no version '7'"),
        (lambda: client.infer("churn", inputs[1:], headers=auth), "INVALID_ARGUMENT", "missing input 'age'"),
        (lambda: _raw_infer(server, short_age, auth), "INVALID_ARGUMENT", "12 bytes of FP64 data"),
    ]
    for call, code, words in errors:
        with pytest.raises(grpcclient.InferenceServerException) as info:
            call()
        assert info.value.status() == f"StatusCode.{code}", info.value
        assert words in info.value.message(), info.value.message()

    # HTTP on the same runtime: same model, and the metrics count both
    status, body, _ = server.post("/predict", {"records": records_of(X.iloc[:3])})
    assert status == 200 and body["predictions"] == churn.model.predict(X.iloc[:3]).tolist()
    m = server.metrics()
    assert m['stratum_requests_total{endpoint="grpc_infer",code="200"}'] == 2
    assert m['stratum_requests_total{endpoint="grpc_infer",code="400"}'] == 2
    assert m["stratum_rows_total"] == 2 * len(X) + 3
    client.close()


def test_grpc_port_without_grpcio_is_a_clear_error(churn_bundle, tmp_path):
    """gRPC is optional in the runtime: without grpcio, --grpc-port stops at start with what to install."""
    import os
    import subprocess

    from _helpers import REPO, serve_cmd

    shadow = tmp_path / "no-grpc" / "grpc"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named grpc')\n")
    env = {**os.environ, "PYTHONPATH": f"{shadow.parent}{os.pathsep}{REPO}"}
    proc = subprocess.run(
        serve_cmd(churn_bundle.path, "--grpc-port", "0"), capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--grpc-port needs grpcio and protobuf" in proc.stderr and "pip install grpcio protobuf" in proc.stderr
