"""OIP binary tensor data over HTTP, spoken by Triton's own HTTP client with its default settings
(inputs sent as binary, outputs asked for in binary); malformed binary bodies get 400 with the reason.

Predictions are compared with the fitted model's own ``predict`` / ``predict_proba``.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

httpclient = pytest.importorskip("tritonclient.http")


def _client(server):
    return httpclient.InferenceServerClient(f"{server.host}:{server.port}")


def test_triton_http_client_defaults(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, "--backend", "native")
    client = _client(server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cancer") and client.is_model_ready("cancer", "1")
    assert not client.is_model_ready("cancer", "2")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("cancer", "1")
    assert meta["name"] == "cancer" and meta["versions"] == ["1"]

    X = logreg.X_test
    labels, proba = logreg.model.predict(X), logreg.model.predict_proba(X)
    # one [N, 30] FP64 tensor in the columns' order
    matrix = httpclient.InferInput("input", list(X.shape), "FP64")
    matrix.set_data_from_numpy(X.to_numpy(dtype=np.float64))  # binary_data=True: the default
    result = client.infer("cancer", [matrix], request_id="r-1")
    response = result.get_response()
    assert response["id"] == "r-1" and response["model_version"] == "1"
    assert all("binary_data_size" in o["parameters"] for o in response["outputs"])
    np.testing.assert_array_equal(result.as_numpy("predict"), labels)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), proba, rtol=1e-12, atol=1e-15)

    # one [N, 1] tensor per column, a version path, one output asked for in JSON and one in binary
    columns = []
    for c in X.columns:
        t = httpclient.InferInput(c, [len(X), 1], "FP64")
        t.set_data_from_numpy(X[[c]].to_numpy())
        columns.append(t)
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=False),
        httpclient.InferRequestedOutput("predict_proba"),
    ]
    result = client.infer("cancer", columns, model_version="1", outputs=outputs)
    by_name = {o["name"]: o for o in result.get_response()["outputs"]}
    assert "data" in by_name["predict"] and "binary_data_size" in by_name["predict_proba"]["parameters"]
    np.testing.assert_array_equal(result.as_numpy("predict"), labels)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), proba, rtol=1e-12, atol=1e-15)
    # binary off (the JSON protocol) answers the same through the same client
    plain = httpclient.InferInput("input", list(X.shape), "FP64").set_data_from_numpy(X.to_numpy(), binary_data=False)
    np.testing.assert_array_equal(client.infer("cancer", [plain]).as_numpy("predict"), labels)
    # a non-finite value in a binary tensor is refused, naming the row and column
    bad = X.to_numpy(dtype=np.float64).copy()
    bad[3, 2] = np.nan
    nan_input = httpclient.InferInput("input", list(bad.shape), "FP64").set_data_from_numpy(bad)
    with pytest.raises(Exception, match=rf"\('input'\)\[3\]\[{X.columns[2]}\]: nan is out of range"):
        client.infer("cancer", [nan_input])
    with pytest.raises(Exception, match="has no version '2'"):
        client.infer("cancer", [matrix], model_version="2")
    client.close()


def test_triton_http_client_strings_and_integers(serve, churn_bundle, churn):
    """BYTES tensors (4-byte length prefixes) in and out: a string column, string labels."""
    server = serve(churn_bundle.path)
    client = _client(server)
    X = churn.X_test
    inputs = []
    for name, datatype, values in [
        ("age", "FP64", X.age.to_numpy(np.float64)),
        ("visits", "INT64", X.visits.to_numpy(np.int64)),
        ("plan", "BYTES", X.plan.to_numpy(object)),
        ("spend", "FP64", X.spend.to_numpy(np.float64)),
    ]:
        inputs.append(httpclient.InferInput(name, [len(X)], datatype).set_data_from_numpy(values))
    result = client.infer("churn", inputs)
    got = [v.decode() for v in result.as_numpy("predict")]
    assert got == churn.model.predict(X).tolist()
    assert np.abs(result.as_numpy("predict_proba") - churn.model.predict_proba(X)).max() <= 1e-5
    client.close()


def _body(header: dict, *parts: bytes) -> tuple[bytes, int]:
    head = json.dumps(header).encode()
    return head + b"".join(parts), len(head)


def test_malformed_binary_bodies_get_400_and_the_server_goes_on(serve, churn_bundle, churn):
    server = serve(churn_bundle.path)
    X = churn.X_test.iloc[:3]
    age = X.age.to_numpy(np.float64).tobytes()
    visits = X.visits.to_numpy(np.int64).tobytes()
    spend = X.spend.to_numpy(np.float64).tobytes()
    plan = b"".join(struct.pack("<I", len(v)) + v.encode() for v in X.plan)

    def header(sizes: dict, datatypes: dict | None = None) -> dict:
        types = {"age": "FP64", "visits": "INT64", "plan": "BYTES", "spend": "FP64", **(datatypes or {})}
        return {
            "inputs": [
                {"name": n, "shape": [3], "datatype": types[n], "parameters": {"binary_data_size": sizes[n]}}
                for n in ("age", "visits", "plan", "spend")
            ]
        }

    sizes = {"age": len(age), "visits": len(visits), "plan": len(plan), "spend": len(spend)}
    good, good_len = _body(header(sizes), age, visits, plan, spend)
    cases = [
        # (what, body, Inference-Header-Content-Length, words in the error)
        ("header length past the body", good, str(len(good) + 10), "the body has only"),
        ("header length not a number", good, "ten", "is not a byte count"),
        ("header length cuts the JSON", good, str(good_len - 5), "not valid JSON"),
        ("header length too short for the binary", good, str(good_len + 8), "the JSON header (the first"),
        ("truncated tensor", good[:-8], str(good_len), "goes past the end of the body"),
        ("bytes left over", good + b"\0" * 8, str(good_len), "8 bytes after the JSON header"),
        (
            "wrong datatype size",
            _body(header({**sizes, "age": 12}), age[:12], visits, plan, spend)[0],
            str(_body(header({**sizes, "age": 12}))[1]),
            "12 bytes of FP64 data, but shape [3] of FP64 (8 bytes each) needs 24",
        ),
        (
            "declared FP32 for FP64 bytes",
            _body(header(sizes, {"age": "FP32"}), age, visits, plan, spend)[0],
            str(_body(header(sizes, {"age": "FP32"}))[1]),
            "24 bytes of FP32 data, but shape [3] of FP32 (4 bytes each) needs 12",
        ),
        (
            "BYTES length prefix past its data",
            _body(header({**sizes, "plan": len(plan) - 2}), age, visits, plan[:-2], spend)[0],
            str(_body(header({**sizes, "plan": len(plan) - 2}))[1]),
            "BYTES element 2 claims",
        ),
        ("binary without the header length", good, None, "Inference-Header-Content-Length"),
    ]
    for what, body, length, words in cases:
        headers = {"Content-Type": "application/octet-stream"}
        if length is not None:
            headers["Inference-Header-Content-Length"] = length
        status, payload, _ = server.post("/v2/models/churn/infer", body, headers=headers)
        assert status == 400, f"{what}: {status} {payload}"
        assert words in payload["error"], f"{what}: {payload['error']!r} lacks {words!r}"

    # alive and right, with the well-formed body
    assert server.proc.poll() is None
    status, payload, headers = server.post(
        "/v2/models/churn/infer", good, headers={"Inference-Header-Content-Length": str(good_len)}
    )
    assert status == 200, payload
    assert payload["outputs"][0]["data"] == churn.model.predict(X).tolist()
    assert server.metrics()['stratum_request_errors_total{kind="bad_request"}'] == len(cases)
