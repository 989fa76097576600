"""The runtime over real HTTP: OIP v2 metadata and infer, /predict, health, metrics.

Predictions are compared with the fitted model's own ``predict`` / ``predict_proba``
on the same rows.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
from _helpers import records_of


@pytest.mark.parametrize("backend", ["native", "onnx"])
def test_predict_equals_sklearn(serve, logreg_bundle, logreg, backend):
    server = serve(logreg_bundle.path, "--backend", backend)
    X = logreg.X_test
    status, body, headers = server.post("/predict", {"records": records_of(X)})
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert body["classes"] == [0, 1]
    assert body["predictions"] == logreg.model.predict(X).tolist()
    proba = np.asarray(body["probabilities"])
    expected = logreg.model.predict_proba(X)
    if backend == "native":  # same model, same rows: equal up to float rounding (memory layout)
        np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-15)
    else:
        assert np.abs(proba - expected).max() <= 1e-5
    # one row at a time too (the path a latency-bound client takes)
    for i in range(5):
        status, body, _ = server.post("/predict", {"records": records_of(X.iloc[[i]])})
        assert status == 200 and body["predictions"] == logreg.model.predict(X.iloc[[i]]).tolist()
    assert server.metrics()[f'stratum_model_info{{model="cancer",version="1",backend="{backend}"}}'] == 1


def test_health_and_oip_metadata(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    assert server.get("/v2/health/live")[:2] == (200, {"live": True})
    assert server.get("/v2/health/ready")[:2] == (200, {"ready": True})
    assert server.get("/v2/models/cancer/ready")[:2] == (200, {"name": "cancer", "ready": True})
    status, server_meta, _ = server.get("/v2")
    assert status == 200 and server_meta["name"] == "stratum-serve"
    status, meta, _ = server.get("/v2/models/cancer")
    assert status == 200
    assert meta["name"] == "cancer" and meta["versions"] == ["1"]
    assert meta["platform"] == "onnxruntime_onnx"  # auto picks the verified ONNX copy
    assert [i["name"] for i in meta["inputs"]] == list(logreg.X_test.columns)
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"} and meta["inputs"][0]["shape"] == [-1]
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert server.get("/v2/models/cancer/versions/1")[1] == meta


def test_oip_infer_per_column_and_matrix(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, "--backend", "native")
    X = logreg.X_test.iloc[:20]
    expected_labels = logreg.model.predict(X).tolist()
    expected_proba = logreg.model.predict_proba(X)
    per_column = {
        "id": "req-1",
        "inputs": [{"name": c, "shape": [len(X)], "datatype": "FP64", "data": X[c].tolist()} for c in X.columns],
    }
    status, body, _ = server.post("/v2/models/cancer/infer", per_column)
    assert status == 200, body
    assert body["model_name"] == "cancer" and body["model_version"] == "1" and body["id"] == "req-1"
    out = {o["name"]: o for o in body["outputs"]}
    assert out["predict"]["data"] == expected_labels and out["predict"]["shape"] == [20]
    assert out["predict_proba"]["shape"] == [20, 2]
    np.testing.assert_allclose(
        np.asarray(out["predict_proba"]["data"]).reshape(20, 2), expected_proba, rtol=1e-12, atol=1e-15
    )

    matrix = {
        "inputs": [{"name": "input", "shape": [20, X.shape[1]], "datatype": "FP64", "data": X.to_numpy().tolist()}],
        "outputs": [{"name": "predict"}],
    }
    status, body, _ = server.post("/v2/models/cancer/versions/1/infer", matrix)
    assert status == 200, body
    assert [o["name"] for o in body["outputs"]] == ["predict"]
    assert body["outputs"][0]["data"] == expected_labels
    # flat data with an [N, K] shape is the same tensor
    matrix["inputs"][0]["data"] = X.to_numpy().ravel().tolist()
    assert server.post("/v2/models/cancer/infer", matrix)[1]["outputs"][0]["data"] == expected_labels


def test_mixed_columns_and_string_labels(serve, churn_bundle, churn):
    assert churn_bundle.manifest["onnx"]["available"], churn_bundle.manifest["onnx"]["reason"]
    X = churn.X_test
    for backend in ("native", "onnx"):
        server = serve(churn_bundle.path, "--backend", backend)
        status, body, _ = server.post("/predict", {"records": records_of(X)})
        assert status == 200, body
        assert body["classes"] == ["churn", "stay"]
        assert body["predictions"] == churn.model.predict(X).tolist()
        assert np.abs(np.asarray(body["probabilities"]) - churn.model.predict_proba(X)).max() <= 1e-5
        status, meta, _ = server.get("/v2/models/churn")
        assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {
            "age": "FP64",
            "visits": "INT64",
            "plan": "BYTES",
            "spend": "FP64",
        }
        assert meta["outputs"][0]["datatype"] == "BYTES"
        infer = {
            "inputs": [
                {"name": "age", "shape": [3], "datatype": "FP64", "data": X.age.iloc[:3].tolist()},
                {"name": "visits", "shape": [3, 1], "datatype": "INT64", "data": [[v] for v in X.visits.iloc[:3]]},
                {"name": "plan", "shape": [3], "datatype": "BYTES", "data": X.plan.iloc[:3].tolist()},
                {"name": "spend", "shape": [3], "datatype": "FP64", "data": X.spend.iloc[:3].tolist()},
            ]
        }
        status, body, _ = server.post("/v2/models/churn/infer", infer)
        assert status == 200, body
        assert body["outputs"][0]["data"] == churn.model.predict(X.iloc[:3]).tolist()
        # an unknown category: the model itself refuses it -> 400, the server goes on
        bad = records_of(X.iloc[:1])
        bad[0]["plan"] = "platinum"
        status, body, _ = server.post("/predict", {"records": bad})
        assert status == 400
        assert "records[0].plan" in body["error"] and "'platinum'" in body["error"]
        assert server.post("/predict", {"records": records_of(X.iloc[:2])})[0] == 200


def test_regression(serve, diabetes_bundle, diabetes):
    server = serve(diabetes_bundle.path)
    X = diabetes.X_test
    status, body, _ = server.post("/predict", {"records": records_of(X)})
    assert status == 200, body
    assert set(body) == {"predictions", "id"}  # the id: for labels sent back to /feedback
    np.testing.assert_allclose(body["predictions"], diabetes.model.predict(X), rtol=1e-9, atol=1e-6)
    status, meta, _ = server.get("/v2/models/diabetes")
    assert meta["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]


def test_metrics_in_prometheus_format(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    rows = records_of(logreg.X_test.iloc[:3])
    for _ in range(4):
        assert server.post("/predict", {"records": rows})[0] == 200
    assert server.post("/predict", {"records": [{}]})[0] == 400
    status, text, headers = server.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    for family, kind in [
        ("stratum_requests_total", "counter"),
        ("stratum_request_errors_total", "counter"),
        ("stratum_request_duration_seconds", "histogram"),
        ("stratum_batch_size_rows", "histogram"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ]:
        assert f"# TYPE {family} {kind}" in text
    m = server.metrics()
    assert m['stratum_requests_total{endpoint="predict",code="200"}'] == 4
    assert m['stratum_requests_total{endpoint="predict",code="400"}'] == 1
    assert m['stratum_request_errors_total{kind="bad_request"}'] == 1
    assert m["stratum_rows_total"] == 12
    assert m['stratum_request_duration_seconds_count{endpoint="predict"}'] == 5
    buckets = [v for k, v in m.items() if k.startswith('stratum_request_duration_seconds_bucket{endpoint="predict"')]
    assert buckets == sorted(buckets) and buckets[-1] == 5
    assert m['stratum_batch_size_rows_bucket{le="4"}'] >= 4
    assert m["process_cpu_seconds_total"] > 0 and m["process_resident_memory_bytes"] > 10e6


def test_keep_alive_and_pipelined_requests_answered_in_order(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    import json

    bodies = [json.dumps({"records": records_of(logreg.X_test.iloc[[i]])}).encode() for i in range(3)]
    raw = (
        b"".join(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(b)).encode()
            + b"\r\n\r\n"
            + b
            for b in bodies
        )
        + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    responses = data.split(b"HTTP/1.1 ")[1:]
    assert len(responses) == 4
    for i, resp in enumerate(responses[:3]):
        assert resp.startswith(b"200 OK")
        body = json.loads(resp.split(b"\r\n\r\n", 1)[1])
        assert body["predictions"] == logreg.model.predict(logreg.X_test.iloc[[i]]).tolist()
    assert b"Connection: close" in responses[3] and responses[3].endswith(b'{"live":true}')


def test_bearer_token_guards_prediction_only(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, token="s3cret-token")
    rows = {"records": records_of(logreg.X_test.iloc[:1])}
    status, body, headers = server.post("/predict", rows, auth=False)
    assert status == 401 and "Bearer" in body["error"] and headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = server.post("/predict", rows, auth=False, headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, _, _ = server.post("/v2/models/cancer/infer", {"inputs": []}, auth=False)
    assert status == 401
    assert server.post("/predict", rows)[0] == 200
    assert server.get("/v2/health/ready", auth=False)[0] == 200
    assert server.get("/metrics", auth=False)[0] == 200
    assert "s3cret-token" not in server.get("/metrics")[1]


def test_tensor_schema_model(serve, registry, tmp_path):
    """A model fitted on arrays (no column names) with an image-like ``{"shape": [8, 8]}`` schema."""
    from _helpers import Fitted, make_bundle
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=3000).fit(X[:1200] / 16.0, y[:1200])
    X_test = X[1200:1300] / 16.0
    mv = registry.register(
        "digits",
        model,
        lineage={
            "task": "classification",
            "input_schema": {"shape": [8, 8], "dtype": "float64"},
            "classes": list(range(10)),
            "sample": {"records": X_test[:3].reshape(3, 8, 8).tolist(), "expected": model.predict(X_test[:3]).tolist()},
        },
    )
    bundle = make_bundle(registry, Fitted(mv.ref, model, None, None), tmp_path / "digits")
    assert bundle.manifest["onnx"]["available"], bundle.manifest["onnx"]["reason"]
    images = X_test.reshape(-1, 8, 8).tolist()
    for backend in ("native", "onnx"):
        server = serve(bundle.path, "--backend", backend)
        status, body, _ = server.post("/predict", {"instances": images})
        assert status == 200, body
        assert body["predictions"] == model.predict(X_test).tolist()
        assert np.abs(np.asarray(body["probabilities"]) - model.predict_proba(X_test)).max() <= 1e-5
        status, meta, _ = server.get("/v2/models/digits")
        assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 8, 8]}]
        infer = {
            "inputs": [{"name": "input", "shape": [4, 8, 8], "datatype": "FP64", "data": X_test[:4].ravel().tolist()}]
        }
        status, body, _ = server.post("/v2/models/digits/infer", infer)
        assert status == 200, body
        assert body["outputs"][0]["data"] == model.predict(X_test[:4]).tolist()
        status, body, _ = server.post("/predict", {"instances": [[0.0] * 64]})
        assert status == 400 and "shape [8, 8]" in body["error"]


def test_missing_values_reach_a_model_that_imputes(serve, registry, cancer, tmp_path):
    """With an imputer in the pipeline, null is a valid value (sent to the model as NaN)."""
    from _helpers import Fitted, lineage_of, make_bundle
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X_train, X_test, y_train, y_test = cancer
    X_train = X_train.iloc[:, :6].copy()
    X_test = X_test.iloc[:, :6].copy()
    X_train.iloc[::7, 0] = np.nan
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=3000)).fit(X_train, y_train)
    mv = registry.register("imputed", model, lineage=lineage_of(model, X_train, X_test, "classification", [0, 1]))
    bundle = make_bundle(registry, Fitted(mv.ref, model, X_test, y_test), tmp_path / "imputed")
    assert all(c.get("nullable") for c in bundle.manifest["input_schema"]["columns"])
    rows = records_of(X_test.iloc[:10])
    for i in (0, 3, 7):
        rows[i][X_test.columns[i % 6]] = None
    frame = X_test.iloc[:10].copy()
    for i in (0, 3, 7):
        frame.iloc[i, i % 6] = np.nan
    for backend in ["native", "onnx"] if bundle.manifest["onnx"]["available"] else ["native"]:
        server = serve(bundle.path, "--backend", backend)
        status, body, _ = server.post("/predict", {"records": rows})
        assert status == 200, body
        assert body["predictions"] == model.predict(frame).tolist()
        assert np.abs(np.asarray(body["probabilities"]) - model.predict_proba(frame)).max() <= 1e-5
        # a string is still refused, naming the field
        bad = [dict(rows[0], **{X_test.columns[1]: "n/a"})]
        status, body, _ = server.post("/predict", {"records": bad})
        assert status == 400 and f"records[0].{X_test.columns[1]}" in body["error"] and "or null" in body["error"]
