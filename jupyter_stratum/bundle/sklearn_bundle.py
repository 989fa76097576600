"""What a bundle holds for a ``sklearn``-flavor model, and how it is checked.

- ``model/model.skops`` — the registry's artifact byte for byte (same sha256), loaded on the
  edge host with only the types the manifest lists as trusted;
- ``model/model.onnx`` — the ONNX copy, kept only when it is exact (see :mod:`.onnx_export`);
- ``manifest.model.predict_from_proba`` — whether one ``predict_proba`` pass gives ``predict``
  too (checked on the check rows; see :data:`ARGMAX_ESTIMATORS`).

The runtime's native path must reproduce the model's own ``predict`` on the sample rows
exactly (labels and values compared as text).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError
from .flavor import FlavorBundle, RecordsPredict
from .input_rows import model_input
from .onnx_export import export_onnx
from .requirements import pin_requirements

#: estimators whose predict() is classes_[argmax(predict_proba())] in scikit-learn's own code
ARGMAX_ESTIMATORS = {
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
    "LogisticRegression",
}
#: what every bundle's runtime needs, whatever the flavor (httptools: the HTTP/1.1 parser, llhttp)
RUNTIME_LIBS = ["numpy", "scipy", "scikit-learn", "skops", "httptools"]
TRANSITIVE_LIBS = ["joblib", "threadpoolctl", "narwhals"]


def trusted_types(path: Path) -> list[str]:
    """The skops file's untrusted types, when the registry's trust rules allow every one."""
    import skops.io

    from ..errors import RegistryError
    from ..registry.trust import check_types

    untrusted = skops.io.get_untrusted_types(file=path)
    try:
        return check_types(untrusted, str(path))
    except RegistryError as exc:
        raise BundleError(str(exc)) from None


class SklearnBundle(FlavorBundle):
    """The ``sklearn`` flavor's part of a build: model files, checks, ONNX copy, requirements."""

    flavor = "sklearn"
    copy_key = "onnx"

    def __init__(self, mv: Any, model: Any, task: str, schema: dict):
        super().__init__(mv, model, task, schema)
        self.needs_frame = hasattr(model, "feature_names_in_")

    def write_model_files(self, staging: Path) -> dict:
        """Copy the artifact into ``model/``; return the manifest's model section."""
        from ..serve.manifest import sha256_file

        dst = staging / "model" / "model.skops"
        shutil.copyfile(Path(self.mv.artifact_path), dst)
        digest = sha256_file(dst)
        if getattr(self.mv, "sha256", None) and digest != self.mv.sha256:
            raise BundleError(
                f"the artifact of {self.ref} does not match its registered sha256; "
                "restore it or register the model again"
            )
        self.section = {
            "path": "model/model.skops",
            "format": "skops",
            "sha256": digest,
            "trusted_types": trusted_types(dst),
        }
        return self.section

    def copy_sections(self) -> dict:
        return {"onnx": {"available": False, "reason": "not tried yet"}}

    def check(self, native_predict: RecordsPredict, sample: list[dict], rows: list[dict], expected: list) -> None:
        """The runtime's native path must give the model's own predictions on the sample rows."""
        frame = model_input(self.model, self.schema, sample)
        direct = None if frame is None else np.asarray(self.model.predict(frame)).ravel().tolist()
        if direct is not None and not same_outputs(direct, expected):
            raise BundleError(
                f"the runtime's native path does not reproduce {self.ref}.predict on the "
                f"sample rows ({direct[:5]} vs {expected[:5]}); the input schema may not match "
                "the model"
            )

    def differs(self, recorded: list, expected: list) -> bool:
        return not same_outputs(recorded, expected[: len(recorded)])

    def export_copy(
        self,
        staging: Path,
        write_manifest: Callable[[dict], None],
        rows: list[dict],
        native_predict: RecordsPredict,
        runtime_predict: Callable[[str], RecordsPredict],
    ) -> Any:
        """One predict_proba pass where that equals predict; then the ONNX copy, kept only when exact."""
        from ..serve.model_loader import load_bundle

        self.section["predict_from_proba"] = _predict_from_proba_holds(self.model, native_predict, rows)
        return export_onnx(
            self.model,
            schema=self.schema,
            task=self.task,
            staging=staging,
            write_manifest=write_manifest,
            records=rows,
            native_predict=native_predict,
            load_runtime=lambda: load_bundle(staging, backend="onnx", verify=False, threads=0),
        )

    def requirements(self, copy_available: bool) -> list[str]:
        """Pinned to the training versions; onnxruntime (and its libraries) when the ONNX copy was kept."""
        return pin_requirements(
            self.mv,
            RUNTIME_LIBS + (["pandas"] if self.needs_frame else []) + (["onnxruntime"] if copy_available else []),
            TRANSITIVE_LIBS + (["protobuf", "flatbuffers"] if copy_available else []),
        )


def _predict_from_proba_holds(model: Any, native_predict: RecordsPredict, records: list[dict]) -> bool:
    final = model
    while getattr(final, "steps", None):
        final = final.steps[-1][1]
    if type(final).__name__ not in ARGMAX_ESTIMATORS or not hasattr(final, "classes_") or not records:
        return False
    labels, proba = native_predict(records)
    if proba is None:
        return False
    derived = np.asarray(final.classes_)[np.asarray(proba).argmax(axis=1)].tolist()
    return [str(v) for v in derived] == [str(v) for v in labels]


def same_outputs(a: list, b: list) -> bool:
    """Labels equal as text; a regressor's numbers equal to the last few bits (the same model on the same
    rows may differ in the last place between two memory layouts of the rows: BLAS sums in another order)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif str(x) != str(y):
            return False
    return True
