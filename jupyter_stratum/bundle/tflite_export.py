"""The TFLite copy of a Keras bundle: convert with ``tf.lite``, keep it only when it matches.

"Matches" means: through the runtime's own TFLite path, on every checked row (the
registry's holdout sample + synthetic rows), the class probabilities (or regression
values, relative to ``max(1, max |value|)``) lie within :data:`TOLERANCE` of the
runtime's ``.keras`` path, and labels are equal except for ties (see
``serve.served.compare_outputs``). Otherwise the file is removed and the manifest
records why; the exact ``.keras`` path is the default either way. Mirrors
:mod:`.onnx_export` for scikit-learn models.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .keras_bundle import TOLERANCE  # one tolerance for a Keras bundle's checks, stated in its manifest
from .onnx_export import first_line


@dataclass
class TfliteResult:
    available: bool
    reason: str
    info: dict = field(default_factory=dict)  # path, bytes, rows_checked, max_abs_diff, tolerance


def export_tflite(
    *,
    task: str,
    staging: Path,
    write_manifest: Callable[[dict], None],
    records: list[dict],
    native_predict: Callable[[list[dict]], tuple[list, list | None]],
    tflite_predict: Callable[[list[dict]], tuple[list, list | None]],
) -> TfliteResult:
    """Convert ``staging/model/model.keras``; keep ``model/model.tflite`` only when it matches.

    ``write_manifest(section)`` writes a provisional manifest so that ``tflite_predict``
    runs the staged bundle's TFLite backend exactly as an edge host will.
    """
    from ..serve.served import compare_outputs, output_diff

    if not records:
        return TfliteResult(False, "no rows to check a TFLite copy against")
    path = staging / "model" / "model.tflite"
    try:
        import keras
        import tensorflow as tf

        network = keras.saving.load_model(staging / "model" / "model.keras", compile=False, safe_mode=True)
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints the SavedModel it writes
            data = tf.lite.TFLiteConverter.from_keras_model(network).convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises many kinds
        return TfliteResult(False, f"tf.lite cannot convert the network ({type(exc).__name__}: {first_line(exc)})")
    path.write_bytes(data)
    section = {"available": True, "path": "model/model.tflite", "bytes": len(data), "tolerance": TOLERANCE}
    write_manifest(section)
    expected_labels, expected_proba = native_predict(records)
    try:
        labels, proba = tflite_predict(records)
    except Exception as exc:  # noqa: BLE001
        path.unlink()
        return TfliteResult(
            False, f"the TFLite interpreter cannot run the copy ({type(exc).__name__}: {first_line(exc)})"
        )
    problem = compare_outputs(task, expected_labels, expected_proba, labels, proba, TOLERANCE)
    if problem:
        path.unlink()
        return TfliteResult(False, f"the TFLite copy differs from the .keras network: {problem}")
    diff = output_diff(task, expected_labels, expected_proba, labels, proba)
    section.update({"rows_checked": len(records), "max_abs_diff": diff, "tensorflow": tf.__version__})
    return TfliteResult(
        True, f"matches the .keras network on {len(records)} rows (max |diff| {diff:.2g} <= {TOLERANCE:g})", section
    )
