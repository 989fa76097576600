"""The runtime's supervision routes on a real runtime process: request ids, drift per feature
(equal to SciPy on the rows served), /metrics, labels and the live metric, the bounded capture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import records_of
from scipy import stats
from sklearn.metrics import accuracy_score

from jupyter_stratum.errors import SuperviseError
from jupyter_stratum.serve.capture import read_capture
from jupyter_stratum.supervise.retrain import fetch_capture, labelled_frame

TOKEN = "t0k-supervise"
WINDOW = 60


def test_drift_feedback_metrics_and_capture(drift_bundle, mixed, serve, tmp_path):
    bundle, model, reference = drift_bundle
    _, X_test, _, y_test = mixed
    capture_dir = tmp_path / "capture"
    server = serve(
        bundle,
        "--drift-window",
        str(WINDOW),
        "--drift-check-every",
        "10",
        "--drift-min-interval-ms",
        "0",
        "--capture",
        "40",
        "--capture-dir",
        str(capture_dir),
        token=TOKEN,
    )
    base = "/v2/models/churn"
    status, body, _ = server.get(base + "/drift")
    assert status == 200 and body["enabled"] is True and body["tracked"] == ["age", "visits", "plan", "spend"]
    assert body["checks"] == 0 and body["detected"] is False

    # in-distribution traffic: 5 rows per request; every answer carries an id
    served, ids = [], []
    for start in range(0, 100, 5):
        rows = X_test.iloc[start : start + 5]
        status, answer, _ = server.post("/predict", {"records": records_of(rows)})
        assert status == 200 and isinstance(answer["id"], str)
        served.append(rows)
        ids.append(answer["id"])
    assert len(set(ids)) == len(ids)
    status, body, _ = server.get(base + "/drift")
    assert body["checks"] >= 4 and body["window_rows"] == WINDOW and body["rows_seen"] == 100
    window = X_test.iloc[100 - WINDOW : 100]
    by_name = {f["feature"]: f for f in body["features"]}
    for name in ("age", "visits", "spend"):
        expected = stats.ks_2samp(reference.feature(name).sample, window[name]).statistic
        assert abs(by_name[name]["statistic"] - expected) <= 1e-9 and by_name[name]["test"] == "ks"
    freqs = reference.feature("plan").frequencies
    cats = list(freqs)
    observed = [(window["plan"] == c).sum() for c in cats] + [0]
    counts = np.array([freqs[c] for c in cats] + [0], dtype=float) + 0.5
    chi2 = stats.chisquare(observed, counts / counts.sum() * WINDOW).statistic
    assert abs(by_name["plan"]["statistic"] - chi2) <= 1e-9
    assert body["detected"] is False  # 100 rows of the held-out part look like training

    # an OIP request keeps the client's id, or gets one
    infer = {
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64" if c != "plan" else "BYTES", "data": [v]}
            for c, v in records_of(X_test.iloc[:1])[0].items()
        ]
    }
    for col in infer["inputs"]:
        if col["name"] == "visits":
            col["datatype"] = "INT64"
    status, answer, _ = server.post(base + "/infer", {**infer, "id": "client-7"})
    assert status == 200 and answer["id"] == "client-7", answer
    status, answer, _ = server.post(base + "/infer", infer)
    assert status == 200 and answer["id"] and answer["id"] != "client-7"

    # labels: the same token as /predict; the live metric is sklearn's accuracy on the labelled rows
    labels = [list(y_test.iloc[start : start + 5]) for start in range(0, 100, 5)]
    feedback = {"ids": ids[:10] + ["nobody"], "labels": labels[:10] + ["stay"]}
    status, _, _ = server.post(base + "/feedback", feedback, auth=False)
    assert status == 401
    status, answer, _ = server.post(base + "/feedback", feedback)
    assert status == 200 and answer["matched"] == 10 and answer["unknown"] == ["nobody"] and answer["rows"] == 50
    predicted = model.predict(X_test.iloc[:50])
    assert answer["value"] == pytest.approx(accuracy_score(y_test.iloc[:50], predicted), abs=1e-12)
    status, answer, _ = server.post(base + "/feedback", {"ids": [ids[10]], "labels": [["stay"]]})
    assert status == 400 and "1 label" in answer["error"]

    # traffic moves: older customers on the 'pro' plan
    shifted = X_test.iloc[:WINDOW].copy()
    shifted["age"] += 40
    shifted["plan"] = "pro"
    for start in range(0, WINDOW, 5):
        status, _, _ = server.post("/predict", {"records": records_of(shifted.iloc[start : start + 5])})
        assert status == 200
    status, body, _ = server.get(base + "/drift")
    assert body["detected"] is True and set(body["drifted_features"]) == {"age", "plan"} and body["alarms"] == 1
    metrics = server.metrics()
    assert metrics["stratum_drift_detected"] == 1 and metrics["stratum_drift_window_rows"] == WINDOW
    assert (
        metrics['stratum_drift_score{feature="age",test="ks"}']
        >= 1
        > metrics['stratum_drift_score{feature="spend",test="ks"}']
    )
    assert metrics['stratum_live_metric{metric="accuracy"}'] == pytest.approx(answer_accuracy(model, X_test, y_test))
    assert metrics["stratum_labelled_window_rows"] == 50
    # the monitor reads the same numbers
    from jupyter_stratum.monitor.metrics import compute_stats, scrape

    host = compute_stats(scrape("edge", server.url))
    assert host.drift_detected == 1 and (host.drifted_features, host.tracked_features) == (2, 4)
    assert host.live_metric == pytest.approx(answer_accuracy(model, X_test, y_test))

    # the capture keeps at most 40 rows, the newest, with the labels that came back
    captured = read_capture(capture_dir)
    assert 20 <= len(captured) <= 40
    assert [c.row["age"] for c in captured] == list(shifted["age"].iloc[WINDOW - len(captured) :])
    assert all(c.label is None for c in captured)  # the labelled rows were the first ones, rotated out
    # the supervisor reads the same rows over HTTP, with the token only
    status, _, _ = server.get(base + "/capture", auth=False)
    assert status == 401
    status, body, _ = server.get(base + "/capture")
    assert status == 200 and body["columns"] == ["age", "visits", "plan", "spend"] and body["max_rows"] == 40
    assert [r["row"] for r in body["rows"]] == [c.row for c in captured] and body["labelled"] == 0

    # the supervisor's reader: label the newest request, get it back as a table in the model's dtypes
    status, answer, _ = server.post("/predict", {"records": records_of(X_test.iloc[:3])})
    status, _, _ = server.post(base + "/feedback", {"ids": [answer["id"]], "labels": [list(y_test.iloc[:3])]})
    assert status == 200
    with pytest.raises(SuperviseError, match="refused its capture"):
        fetch_capture(server.url, "churn", "wrong")
    rows = fetch_capture(server.url, "churn", TOKEN)
    frame = labelled_frame(rows, lineage_schema(X_test), "label")
    pd.testing.assert_frame_equal(
        frame, X_test.iloc[:3].assign(label=list(y_test.iloc[:3])).reset_index(drop=True), check_dtype=True
    )


def answer_accuracy(model, X_test, y_test):
    return accuracy_score(y_test.iloc[:50], model.predict(X_test.iloc[:50]))


def lineage_schema(X):
    return {"columns": [{"name": str(c), "dtype": str(t)} for c, t in X.dtypes.items()]}
