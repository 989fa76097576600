"""The ONNX copy of a bundle: convert with skl2onnx, keep it only when it is exact.

"Exact" means: through the runtime's own ONNX path, the labels equal the native
model's ``predict`` on every checked row and the class probabilities (or the
regression values) lie within 1e-5 of the native ones. Conversion is tried in
a few input layouts (one 2-D tensor / one tensor per column; float64 first,
then float32) and the first exact one is kept. Otherwise the manifest records
why not, and the runtime uses the native model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TOLERANCE = 1e-5


@dataclass
class OnnxResult:
    available: bool
    reason: str
    info: dict = field(default_factory=dict)  # input_mode, input_type, outputs, checks


def _final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        return _final_estimator(steps[-1][1])
    return model


def _candidates(schema: dict) -> list[tuple[str, str]]:
    columns = schema.get("columns")
    if columns is None:  # tensor schema
        return [("tensor", "double"), ("tensor", "float")]
    kinds = {_kind(c.get("dtype", "float64")) for c in columns}
    if kinds <= {"float", "int"}:
        return [("tensor", "double"), ("tensor", "float"), ("columns", "double"), ("columns", "float")]
    return [("columns", "double"), ("columns", "float")]


def _kind(dtype: str) -> str:
    d = str(dtype).lower()
    if d.startswith(("float", "double")):
        return "float"
    if d.startswith(("int", "uint")):
        return "int"
    if d in ("bool", "boolean"):
        return "bool"
    return "string"


def convert(model: Any, schema: dict, mode: str, typ: str, is_classifier: bool):
    """The ONNX graph of ``model`` (skl2onnx), unchecked: ``mode`` "tensor" (one input of every column)
    or "columns" (one input per column of ``schema``), ``typ`` "double" or "float" for the numbers,
    classifiers' probabilities as a plain tensor (no zipmap). :func:`export_onnx` checks the copy."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    num = DoubleTensorType if typ == "double" else FloatTensorType
    if mode == "tensor":
        if "columns" in schema:
            width = len(schema["columns"])
        else:
            width = int(np.prod([d for d in schema["shape"] if d not in (None, -1)]))
        initial = [("input", num([None, width]))]
    else:
        initial = []
        for col in schema["columns"]:
            kind = _kind(col.get("dtype", "float64"))
            t = {"float": num, "int": Int64TensorType, "bool": BooleanTensorType, "string": StringTensorType}[kind]
            initial.append((col["name"], t([None, 1])))
    options = {}
    if is_classifier:
        options = {id(_final_estimator(model)): {"zipmap": False}}
    return convert_sklearn(model, initial_types=initial, options=options)


def export_onnx(
    model: Any,
    *,
    schema: dict,
    task: str,
    staging: Path,
    write_manifest: Callable[[dict], None],
    records: list[dict],
    native_predict: Callable[[list[dict]], tuple[list, list | None]],
    load_runtime: Callable[[], Any],
) -> OnnxResult:
    """Try the layouts; keep ``staging/model/model.onnx`` only for an exact one.

    ``write_manifest(onnx_section)`` writes a provisional manifest so that
    ``load_runtime()`` can load the staged bundle with the ONNX backend exactly
    as an edge host will.
    """
    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as exc:
        return OnnxResult(False, f"skl2onnx/onnxruntime not installed where the bundle was built ({exc.name})")
    if not records:
        return OnnxResult(False, "no rows to check an ONNX copy against")
    is_classifier = task == "classification"
    expected_labels, expected_proba = native_predict(records)
    path = staging / "model" / "model.onnx"
    failures: list[str] = []
    for mode, typ in _candidates(schema):
        label = f"{mode}/{typ}"
        try:
            onx = convert(model, schema, mode, typ, is_classifier)
        except Exception as exc:  # noqa: BLE001 - skl2onnx raises many kinds
            failures.append(f"{label}: skl2onnx cannot convert it ({type(exc).__name__}: {first_line(exc)})")
            continue
        path.write_bytes(onx.SerializeToString())
        outputs = [o.name for o in onx.graph.output]
        section = {
            "available": True,
            "path": "model/model.onnx",
            "input_mode": mode,
            "input_type": typ,
            "label_output": outputs[0],
            "probability_output": outputs[1]
            if is_classifier and len(outputs) > 1 and expected_proba is not None
            else None,
        }
        write_manifest(section)
        try:
            runtime = load_runtime()
            schema_obj = runtime.schema
            if "columns" in schema:
                batch, n = schema_obj.from_records(records)
            else:
                batch, n = schema_obj.check_array(records, "records")
            labels, proba = runtime.predict(batch, n)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{label}: ONNX Runtime cannot run it ({type(exc).__name__}: {first_line(exc)})")
            continue
        problem = _compare(task, expected_labels, expected_proba, labels, proba)
        if problem:
            failures.append(f"{label}: {problem}")
            continue
        diff = _max_diff(task, expected_labels, expected_proba, labels, proba)
        section.update({"rows_checked": len(records), "max_abs_diff": diff, "tolerance": TOLERANCE})
        import onnxruntime
        import skl2onnx

        section["versions"] = {"skl2onnx": skl2onnx.__version__, "onnxruntime": onnxruntime.__version__}
        return OnnxResult(True, f"exact on {len(records)} rows (max |diff| {diff:.2g} <= {TOLERANCE:g})", section)
    if path.exists():
        path.unlink()
    return OnnxResult(False, "; ".join(failures) or "no conversion was tried")


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _compare(task, exp_labels, exp_proba, labels, proba) -> str | None:
    n = len(exp_labels)
    if task == "classification":
        bad = sum(1 for a, b in zip(exp_labels, labels) if a != b and str(a) != str(b))
        if bad or len(labels) != n:
            return f"labels differ from the native model on {bad} of {n} rows"
        if exp_proba is not None:
            if proba is None:
                return "the ONNX copy gives no probabilities"
            d = float(np.max(np.abs(np.asarray(exp_proba, dtype=float) - np.asarray(proba, dtype=float))))
            if not d <= TOLERANCE:
                return f"probabilities differ by up to {d:.2g} (limit {TOLERANCE:g})"
        return None
    d = float(np.max(np.abs(np.asarray(exp_labels, dtype=float) - np.asarray(labels, dtype=float))))
    scale = max(1.0, float(np.max(np.abs(np.asarray(exp_labels, dtype=float)))))
    if not d <= TOLERANCE * scale:
        return f"predictions differ by up to {d:.2g} (limit {TOLERANCE:g} x {scale:.3g})"
    return None


def _max_diff(task, exp_labels, exp_proba, labels, proba) -> float:
    if task == "classification":
        if exp_proba is None:
            return 0.0
        return float(np.max(np.abs(np.asarray(exp_proba, dtype=float) - np.asarray(proba, dtype=float))))
    return float(np.max(np.abs(np.asarray(exp_labels, dtype=float) - np.asarray(labels, dtype=float))))
