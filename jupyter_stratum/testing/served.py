"""Registering a model the way training does (with the lineage a bundle needs) and
talking to the runtime that serves it, for tests and benchmarks."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def bundle_lineage(model: Any, X_train: Any, X_sample: Any, *, metric: str = "accuracy") -> dict:
    """The lineage of a fitted scikit-learn classifier on DataFrames: task, metric,
    input schema, classes and a sample with its expected predictions (the bundle builder
    checks the runtime against it)."""
    import numpy as np

    return {
        "task": "classification",
        "metric": metric,
        "input_schema": {"columns": [{"name": str(c), "dtype": str(t)} for c, t in X_train.dtypes.items()]},
        "classes": [int(c) for c in model.classes_],
        "sample": {
            "records": json.loads(X_sample.to_json(orient="records")),
            "expected": np.asarray(model.predict(X_sample)).tolist(),
        },
    }


def http_json(url: str, body: dict | None = None, timeout: float = 10.0) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given) and decode the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def predict(url: str, X: Any) -> list:
    """Predictions of the runtime at ``url`` for the rows of DataFrame ``X``."""
    return http_json(url + "/predict", {"records": json.loads(X.to_json(orient="records"))})["predictions"]


def served_version(url: str) -> str:
    """The model version the runtime at ``url`` says it serves (its Prometheus model info)."""
    from ..monitor.metrics import scrape

    s = scrape("h", url)
    if not s.up:
        raise AssertionError(f"{url} does not answer: {s.error}")
    return s.model.split("@")[-1]
