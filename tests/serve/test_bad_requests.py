"""A battery of malformed requests: each gets the right status and a message naming
what was wrong, and the server is alive and correct afterwards."""

from __future__ import annotations

import json
import socket

from _helpers import records_of

TOKEN = "battery-token"


def _raw(server, data: bytes) -> tuple[int, dict | str]:
    """Send raw bytes on a fresh connection; return (status, body) of the first response."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(data)
        buf = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                length = int(
                    [h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                )
                if len(body) >= length:
                    break
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def test_malformed_request_battery(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, "--max-body-bytes", "200000", "--max-rows", "100", token=TOKEN)
    X = logreg.X_test
    good = records_of(X.iloc[:2])
    first = X.columns[0]

    def with_value(value):
        rows = records_of(X.iloc[:2])
        rows[1][first] = value
        return {"records": rows}

    missing = records_of(X.iloc[:1])
    del missing[0][first]
    extra = records_of(X.iloc[:1])
    extra[0]["bogus"] = 1.0
    per_column = [{"name": c, "shape": [2], "datatype": "FP64", "data": X[c].iloc[:2].tolist()} for c in X.columns]

    def infer(inputs, **more):
        return {"inputs": inputs, **more}

    def replace(i, **changes):
        inputs = [dict(t) for t in per_column]
        inputs[i].update(changes)
        return inputs

    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        # (what, method, path, body, status, words in the error)
        ("invalid JSON", "POST", "/predict", b'{"records": [', 400, "not valid JSON"),
        ("body is a list", "POST", "/predict", [1, 2], 400, "must be a JSON object"),
        ("no records", "POST", "/predict", {"rows": good}, 400, "has no 'records'"),
        ("records not a list", "POST", "/predict", {"records": {"a": 1}}, 400, "'records' must be a list"),
        ("records empty", "POST", "/predict", {"records": []}, 400, "'records' is empty"),
        ("record not an object", "POST", "/predict", {"records": [[1, 2, 3]]}, 400, "records[0] must be an object"),
        ("missing column", "POST", "/predict", {"records": missing}, 400, f"records[0]: missing column '{first}'"),
        ("unknown column", "POST", "/predict", {"records": extra}, 400, "records[0]: unknown column 'bogus'"),
        (
            "string for a float",
            "POST",
            "/predict",
            with_value("12.5"),
            400,
            f"records[1].{first}: expected a number (float64), got the string '12.5'",
        ),
        ("null for a float", "POST", "/predict", with_value(None), 400, f"records[1].{first}: expected a number"),
        ("boolean for a float", "POST", "/predict", with_value(True), 400, "got a boolean"),
        ("list for a float", "POST", "/predict", with_value([1.0]), 400, "got a list"),
        (
            "NaN literal",
            "POST",
            "/predict",
            json.dumps(with_value(0.0)).replace("0.0", "NaN", 1).encode(),
            400,
            "NaN is not valid JSON",
        ),
        (
            "overflowing number",
            "POST",
            "/predict",
            json.dumps(with_value(0.0)).replace("0.0", "1e999", 1).encode(),
            400,
            "out of range",
        ),
        ("empty body", "POST", "/predict", b"", 400, "has no body"),
        ("not UTF-8", "POST", "/predict", b'{"records": "\xff\xfe"}', 400, "not UTF-8"),
        ("deep nesting", "POST", "/predict", b"[" * 100000 + b"]" * 100000, 400, "nested too deeply"),
        ("too many rows", "POST", "/predict", {"records": records_of(X.iloc[:101])}, 413, "at most 100"),
        ("OIP no inputs", "POST", "/v2/models/cancer/infer", {"outputs": []}, 400, "'inputs' must be a non-empty list"),
        ("OIP input not an object", "POST", "/v2/models/cancer/infer", infer([5]), 400, "inputs[0] must be an object"),
        (
            "OIP shape vs data",
            "POST",
            "/v2/models/cancer/infer",
            infer(replace(3, shape=[3])),
            400,
            f"inputs[3] ('{X.columns[3]}'): shape [3] needs 3 values, data holds 2",
        ),
        (
            "OIP bad datatype",
            "POST",
            "/v2/models/cancer/infer",
            infer(replace(0, datatype="FLOAT")),
            400,
            "'FLOAT' is not an OIP datatype",
        ),
        (
            "OIP BYTES for a number",
            "POST",
            "/v2/models/cancer/infer",
            infer(replace(1, datatype="BYTES", data=["a", "b"])),
            400,
            f"datatype BYTES does not suit column '{X.columns[1]}'",
        ),
        (
            "OIP unknown input",
            "POST",
            "/v2/models/cancer/infer",
            infer(replace(2, name="nope")),
            400,
            "unknown input 'nope'",
        ),
        (
            "OIP missing input",
            "POST",
            "/v2/models/cancer/infer",
            infer(per_column[1:]),
            400,
            f"missing input '{first}'",
        ),
        (
            "OIP negative shape",
            "POST",
            "/v2/models/cancer/infer",
            infer(replace(0, shape=[-2])),
            400,
            "shape must be a list of non-negative integers",
        ),
        (
            "OIP unknown output",
            "POST",
            "/v2/models/cancer/infer",
            infer(per_column, outputs=[{"name": "logits"}]),
            400,
            "unknown output 'logits'",
        ),
        (
            "OIP string in FP64 data",
            "POST",
            "/v2/models/cancer/infer",
            infer(replace(0, data=["x", 1.0])),
            400,
            f"inputs[{first}][0]: expected a number",
        ),
        ("unknown model", "POST", "/v2/models/nope/infer", infer(per_column), 404, "unknown model 'nope'"),
        ("unknown model metadata", "GET", "/v2/models/nope", None, 404, "unknown model 'nope'"),
        ("unknown path", "GET", "/nothing/here", None, 404, "no endpoint /nothing/here"),
        ("GET on /predict", "GET", "/predict", None, 405, "use POST"),
        ("POST on health", "POST", "/v2/health/ready", {}, 405, "use GET"),
    ]
    for what, method, path, body, status, words in cases:
        got, payload, _ = server.request(method, path, body=body, headers=auth)
        assert got == status, f"{what}: {got} {payload}"
        assert words in payload["error"], f"{what}: {payload['error']!r} lacks {words!r}"

    # no / wrong token
    got, payload, _ = server.post("/predict", {"records": good}, auth=False)
    assert got == 401 and "Bearer" in payload["error"]
    # framing errors, on raw connections
    raw_cases = [
        (
            "body over the limit",
            b"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\nContent-Length: 5000000\r\n\r\n",
            413,
            "at most 200000",
        ),
        (
            "bad Content-Length",
            b"POST /predict HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
            400,
            "Invalid character in Content-Length",
        ),
        (
            "chunked body with a Content-Length",
            b"POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 14\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n",
            400,
            "Content-Length can't be present with Transfer-Encoding",
        ),
        ("garbage request line", b"HELLO\r\n\r\n", 400, "malformed request line"),
        ("malformed header", b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400, "malformed header"),
        ("HTTP/2 preface", b"GET / HTTP/2.0\r\n\r\n", 505, "speak HTTP/1.1"),
        ("headers too large", b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431, "exceed"),
    ]
    for what, data, status, words in raw_cases:
        got, payload = _raw(server, data)
        assert got == status, f"{what}: {got} {payload}"
        assert words in payload["error"], f"{what}: {payload}"
    n_errors = len(cases) + 1 + len(raw_cases)
    assert n_errors >= 15

    # alive, correct, and every error counted by kind
    assert server.proc.poll() is None
    assert server.get("/v2/health/ready")[:2] == (200, {"ready": True})
    status, body, _ = server.post("/predict", {"records": good}, headers=auth)
    assert status == 200 and body["predictions"] == logreg.model.predict(X.iloc[:2]).tolist()
    m = server.metrics()
    counted = sum(v for k, v in m.items() if k.startswith("stratum_request_errors_total"))
    assert counted == n_errors
    assert m['stratum_request_errors_total{kind="not_found"}'] == 3
    assert m['stratum_request_errors_total{kind="payload_too_large"}'] == 2
    assert m['stratum_request_errors_total{kind="unauthorized"}'] == 1


def test_stalled_client_is_dropped_and_others_served(serve, logreg_bundle, logreg):
    """A client that sends half a request and stops does not block anyone."""
    server = serve(logreg_bundle.path, "--idle-timeout", "0.5")
    stalled = socket.create_connection((server.host, server.port), timeout=10)
    stalled.sendall(b'POST /predict HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{"records":')
    status, body, _ = server.post("/predict", {"records": records_of(logreg.X_test.iloc[:1])})
    assert status == 200
    stalled.settimeout(5)
    assert stalled.recv(100) == b""  # closed by the server after the idle timeout
    stalled.close()


def test_nullable_integer_column_takes_null_as_nan():
    """An int column the model imputes may be null (sent as NaN, float64); elsewhere null is refused."""
    import math

    import numpy as np
    import pytest

    from jupyter_stratum.serve.errors import RequestError
    from jupyter_stratum.serve.schema import Column

    nullable = Column({"name": "visits", "dtype": "int64", "nullable": True})
    out = nullable.check([3, None, 4.0], lambda i: f"records[{i}].visits")
    assert out[0] == 3 and math.isnan(out[1]) and out[2] == 4 and nullable.numpy_dtype is np.float64
    strict = Column({"name": "visits", "dtype": "int64"})
    with pytest.raises(RequestError, match=r"records\[1\].visits: expected an integer \(int64\), got null"):
        strict.check([3, None], lambda i: f"records[{i}].visits")
