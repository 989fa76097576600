"""Deployment-aware choice: each finalist's single-row latency and serialized size, against the limits
of the edge profile it will run on (``constraints: {latency_ms, size_mb}``).

Latency is measured on the runtime the bundle would serve it with: its ONNX copy where the conversion
is exact (labels equal the native ``predict``, probabilities within the bundle's tolerance, on the
rows checked), else the native model. Size is the skops artifact the registry stores. The best
finalist that fits is chosen; finalists that miss are marked with what they miss, and
:func:`pareto_front` gives the ones no other beats on both score and latency.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Footprint:
    """One finalist measured for deployment."""

    candidate_id: str
    score: float
    latency_ms: float  # median of single-row predictions
    size_mb: float  # the serialized model (skops)
    runtime: str  # "onnx" (an exact copy) or "native"
    misses: list[str] = field(default_factory=list)  # e.g. "latency 2.1 ms > 1 ms"
    onnx_reason: str = ""

    @property
    def fits(self) -> bool:
        return not self.misses


def serialized_mb(model: Any) -> float:
    """Megabytes of the model as the registry stores it (skops)."""
    import skops.io

    return len(skops.io.dumps(model)) / 1e6


def _onnx_session(model: Any, X_sample, task: str):
    """(run(one_row) callable, reason) for an exact ONNX copy of ``model``, else (None, why not)."""
    try:
        import onnxruntime as ort

        from ..bundle.onnx_export import TOLERANCE, convert
    except ImportError as exc:
        return None, f"skl2onnx/onnxruntime not installed ({exc.name})"
    if not all(np.issubdtype(t, np.number) for t in X_sample.dtypes):
        return None, "non-numeric columns: measured natively"
    schema = {"columns": [{"name": str(c), "dtype": str(t)} for c, t in X_sample.dtypes.items()]}
    is_classifier = task == "classification"
    expected = np.asarray(model.predict(X_sample))
    proba = np.asarray(model.predict_proba(X_sample)) if is_classifier and hasattr(model, "predict_proba") else None
    reasons = []
    for typ, dtype in (("double", np.float64), ("float", np.float32)):
        try:
            onx = convert(model, schema, "tensor", typ, is_classifier)
            session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - skl2onnx raises many kinds
            reasons.append(f"{typ}: {type(exc).__name__}")
            continue
        name = session.get_inputs()[0].name
        rows = X_sample.to_numpy(dtype=dtype)
        outputs = session.run(None, {name: rows})
        labels = np.asarray(outputs[0]).ravel()
        exact = (
            np.array_equal(labels.astype(str), expected.astype(str))
            if is_classifier
            else np.allclose(labels, expected, rtol=0, atol=TOLERANCE * max(1.0, float(np.max(np.abs(expected)))))
        )
        if exact and proba is not None and len(outputs) > 1:
            exact = float(np.max(np.abs(np.asarray(outputs[1]) - proba))) <= TOLERANCE
        if not exact:
            reasons.append(f"{typ}: not exact")
            continue
        return (lambda row, s=session, n=name, d=dtype: s.run(None, {n: row.to_numpy(dtype=d)})), f"exact ({typ})"
    return None, "; ".join(reasons)


def single_row_latency_ms(predict, X_sample, repeats: int = 200) -> float:
    """Median milliseconds of ``predict`` on one row (rows taken in turn), after a warm-up."""
    rows = [X_sample.iloc[[i % len(X_sample)]] for i in range(min(len(X_sample), 20))]
    for row in rows[:5]:
        predict(row)
    times = []
    for i in range(repeats):
        row = rows[i % len(rows)]
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(
    candidate_id: str, score: float, model: Any, X_sample, task: str, *, latency_ms: float | None, size_mb: float | None
) -> Footprint:
    """A finalist's footprint and what it misses of the limits."""
    run, reason = _onnx_session(model, X_sample, task)
    runtime = "onnx" if run is not None else "native"
    latency = single_row_latency_ms(run or model.predict, X_sample)
    size = serialized_mb(model)
    misses = []
    if latency_ms is not None and latency > latency_ms:
        misses.append(f"latency {latency:.3g} ms > {latency_ms:g} ms")
    if size_mb is not None and size > size_mb:
        misses.append(f"size {size:.3g} MB > {size_mb:g} MB")
    return Footprint(candidate_id, score, latency, size, runtime, misses, reason)


def choose(footprints: list[Footprint]) -> Footprint | None:
    """The first that fits, in the given (leaderboard) order; None when none does."""
    return next((f for f in footprints if f.fits), None)


def pareto_front(footprints: list[Footprint], greater_is_better: bool = True) -> list[Footprint]:
    """Finalists no other beats on both score and latency (and size), best score first."""
    sign = 1 if greater_is_better else -1

    def dominates(a: Footprint, b: Footprint) -> bool:
        no_worse = sign * a.score >= sign * b.score and a.latency_ms <= b.latency_ms and a.size_mb <= b.size_mb
        better = sign * a.score > sign * b.score or a.latency_ms < b.latency_ms or a.size_mb < b.size_mb
        return no_worse and better

    scored = [f for f in footprints if not math.isnan(f.score)]
    front = [f for f in scored if not any(dominates(o, f) for o in scored if o is not f)]
    return sorted(front, key=lambda f: -sign * f.score)


def footprint_rows(footprints: list[Footprint], chosen: Footprint | None) -> list[dict]:
    """Table rows: the measured finalists, the chosen one marked."""
    return [
        {
            "candidate": f.candidate_id,
            "score": f"{f.score:.4f}",
            "latency ms": f"{f.latency_ms:.3f}",
            "size MB": f"{f.size_mb:.3f}",
            "runtime": f.runtime,
            "fits": "chosen" if f is chosen else ("yes" if f.fits else "no: " + ", ".join(f.misses)),
        }
        for f in footprints
    ]


__all__ = ["Footprint", "choose", "footprint_rows", "measure", "pareto_front", "serialized_mb"]
