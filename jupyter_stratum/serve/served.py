"""The loaded model as the HTTP layer sees it, and the start-up check of its outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BundleLoadError
from .schema import TabularSchema, make_schema

PLATFORMS = {
    ("sklearn", "native"): "sklearn_skops",
    ("sklearn", "onnx"): "onnxruntime_onnx",
    ("keras", "native"): "tensorflow_keras",
    ("keras", "tflite"): "tensorflow_tflite",
    ("pipeline", "pipeline"): "stratum_pipeline",
}
#: ``predict(batch, n) -> (labels or values, probabilities or None)``, set by a backend
Predictor = Callable[[Any, int], tuple[list, list | None]]


class ServedModel:
    """The loaded model plus what the HTTP layer needs to know about it."""

    def __init__(self, root: Path, manifest: dict, backend: str, max_rows: int):
        self.root = root
        self.manifest = manifest
        self.name = str(manifest["name"])
        self.version = str(manifest["version"])
        self.task = manifest["task"]
        self.flavor = str(manifest.get("flavor", "sklearn"))
        self.classes = manifest.get("classes")
        self.backend = backend
        try:
            self.schema = make_schema(manifest["input_schema"], max_rows)
        except ValueError as exc:
            raise BundleLoadError(f"manifest input_schema: {exc}") from None
        self.has_proba = False
        self.predictor: Predictor | None = None  # set by the flavor's backend
        self.estimator: Any = None  # the native scikit-learn model (sklearn backend, native)
        self.session: Any = None  # the ONNX Runtime session (sklearn backend, onnx)
        # a pipeline bundle (pipeline_runtime.py): per-step figures, the last batch's step timings
        self.pipeline_metrics: Any = None
        self.last_trace: list[dict] | None = None

    # -- metadata ---------------------------------------------------------
    @property
    def platform(self) -> str:
        return PLATFORMS.get((self.flavor, self.backend), f"{self.flavor}_{self.backend}")

    def label_datatype(self) -> str:
        if self.task == "regression":
            return "FP64"
        classes = self.classes or []
        if classes and all(isinstance(c, bool) for c in classes):
            return "BOOL"
        if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            return "INT64"
        if classes and all(isinstance(c, (int, float)) for c in classes):
            return "FP64"
        return "BYTES"

    # -- prediction ------------------------------------------------------
    def predict(self, batch: Any, n: int) -> tuple[list, list | None]:
        """Predictions (and class probabilities) for a checked batch of ``n`` rows."""
        if self.predictor is None:
            raise BundleLoadError(f"no backend has loaded model {self.name}; load it with load_bundle()")
        return self.predictor(batch, n)


def self_check(model: ServedModel) -> None:
    """Predict the manifest's sample rows and compare with the outputs recorded at build time.

    This also warms the model up, so the first client request is not the slow one,
    and it catches an edge host whose libraries compute something else.
    """
    sample = model.manifest.get("sample") or {}
    records, expected = sample.get("records"), sample.get("expected")
    if not records or expected is None:
        return
    schema = model.schema
    try:
        if isinstance(schema, TabularSchema):
            batch, n = schema.from_records(records)
        else:
            batch, n = schema.check_array(records, "sample")
        got, proba = model.predict(batch, n)
    except Exception as exc:  # noqa: BLE001
        raise BundleLoadError(
            f"the model cannot predict the bundle's own sample rows: {type(exc).__name__}: {exc}"
        ) from None
    tolerance = sample.get("tolerance")
    if tolerance is not None:  # float models (Keras): within the tolerance the manifest states
        problem = compare_outputs(model.task, expected, sample.get("probabilities"), got, proba, float(tolerance))
        ok = problem is None
    elif model.task == "regression":
        diff = float(np.max(np.abs(np.asarray(got, dtype=float) - np.asarray(expected, dtype=float))))
        scale = max(1.0, float(np.max(np.abs(np.asarray(expected, dtype=float)))))
        ok = diff <= 1e-5 * scale
        problem = f"values differ by up to {diff:.2g}"
    else:
        ok = [str(v) for v in got] == [str(v) for v in expected]
        problem = "labels differ"
    if not ok:
        raise BundleLoadError(
            f"the {model.backend} model predicts {got[:5]} for the bundle's sample rows, but {expected[:5]} "
            f"was recorded when the bundle was built ({problem}): the installed libraries differ from "
            "requirements.txt? Install the pinned versions (pip install -r requirements.txt)"
        )


def output_diff(task: str, expected: list, expected_proba, got: list, got_proba) -> float:
    """Largest |difference|: of the probabilities for classifiers that have them, of the values
    for regressors (0.0 for labels alone, or no rows)."""
    if task == "regression":
        pair = (expected, got)
    elif expected_proba is not None and got_proba is not None:
        pair = (expected_proba, got_proba)
    else:
        return 0.0
    a, b = np.asarray(pair[0], dtype=float), np.asarray(pair[1], dtype=float)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def compare_outputs(task: str, expected: list, expected_proba, got: list, got_proba, tolerance: float) -> str | None:
    """None when ``got`` matches ``expected`` within ``tolerance``, else what differs.

    Classification: probabilities within ``tolerance`` (absolute); a label may differ only
    where the expected probability of the class given lies within ``tolerance`` of the top
    one (a tie). Regression: values within ``tolerance * max(1, max |expected|)``.
    """
    n = len(expected)
    if len(got) != n:
        return f"{len(got)} outputs for {n} rows"
    if task == "regression":
        diff = output_diff(task, expected, None, got, None)
        scale = max(1.0, float(np.max(np.abs(np.asarray(expected, dtype=float))))) if n else 1.0
        if not diff <= tolerance * scale:
            return f"values differ by up to {diff:.3g} (limit {tolerance:g} x {scale:.3g})"
        return None
    if expected_proba is None or got_proba is None:
        bad = sum(1 for a, b in zip(expected, got) if str(a) != str(b))
        return f"labels differ on {bad} of {n} rows" if bad else None
    exp_p, got_p = np.asarray(expected_proba, dtype=float), np.asarray(got_proba, dtype=float)
    if exp_p.shape != got_p.shape:
        return f"probabilities have shape {list(got_p.shape)}, expected {list(exp_p.shape)}"
    diff = output_diff(task, expected, exp_p, got, got_p)
    if not diff <= tolerance:
        return f"probabilities differ by up to {diff:.3g} (limit {tolerance:g})"
    # a differing label is a tie: the class given has (within tolerance) the top expected probability
    flips = [i for i, (a, b) in enumerate(zip(expected, got)) if str(a) != str(b)]
    ties = [i for i in flips if exp_p[i, got_p[i].argmax()] >= exp_p[i].max() - tolerance]
    if len(ties) != len(flips):
        return f"labels differ on {len(flips) - len(ties)} of {n} rows (not ties)"
    return None
