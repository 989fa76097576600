"""What a bundle holds for a ``keras``-flavor model: a Pipeline whose last step is a Keras estimator.

The registry's archive (``jupyter_stratum.keras.flavor``) keeps the whole Pipeline in skops,
Keras estimator included; the edge runtime cannot import ``jupyter_stratum``, so the bundle
splits it into what the runtime can load on its own:

- ``model/model.keras`` — the network, byte for byte the archive's (same sha256);
- ``model/preprocess.skops`` — the steps before the network (scikit-learn types only),
  absent when the Pipeline has none;
- ``manifest.model`` — what the estimator adds after the network: ``classes`` (softmax →
  label) or ``y_mean``/``y_scale`` (standardised target), and ``n_features``.

The runtime's outputs are checked at build time against the in-process ``predict`` /
``predict_proba`` on every check row, within :data:`TOLERANCE` (float32 network: the
same rows in another batch may round differently); the manifest states the tolerance
and the start-up check uses it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import BundleError, RegistryError
from .flavor import FlavorBundle, RecordsPredict
from .input_rows import model_input
from .requirements import TF_X86, pin_requirements
from .sklearn_bundle import RUNTIME_LIBS, TRANSITIVE_LIBS, trusted_types

#: |probability| (classifiers) or |value| / max(1, max |value|) (regressors) allowed between the
#: runtime and the notebook's model, and between the start-up check and the build
TOLERANCE = 1e-5
NO_ONNX = "a Keras bundle serves the .keras network (see tflite for the smaller copy); ONNX is for scikit-learn"


@dataclass
class KerasParts:
    """The model files written into the staging directory and what the manifest needs of them."""

    section: dict  # manifest["model"]
    classes: list | None  # the estimator's classes_, in its output order
    trained_versions: dict  # versions the archive recorded at training (keras, tensorflow ...)
    needs_frame: bool  # the preprocessing was fitted on a DataFrame


def _split(model: Any) -> tuple[Any, list]:
    """(Keras estimator, preprocessing steps before it)."""
    steps = getattr(model, "steps", None)
    if steps:
        return steps[-1][1], list(steps[:-1])
    return model, []


def write_model_files(staging: Path, mv: Any, model: Any) -> KerasParts:
    """Write ``model/model.keras`` and ``model/preprocess.skops``; return the manifest's model section."""
    import skops.io
    from sklearn.pipeline import Pipeline

    from ..keras.flavor import read_archive
    from ..serve.manifest import sha256_file

    ref = f"{mv.name}@{mv.version}"
    artifact = Path(mv.artifact_path)
    if getattr(mv, "sha256", None) and sha256_file(artifact) != mv.sha256:
        raise BundleError(
            f"the artifact of {ref} does not match its registered sha256; restore it or register the model again"
        )
    try:
        archive, _, network = read_archive(artifact)
    except RegistryError as exc:
        raise BundleError(f"cannot bundle {ref}: {exc}") from None
    estimator, steps = _split(model)
    if not hasattr(estimator, "n_features_in_"):
        raise BundleError(f"{ref} holds an unfitted Keras estimator; register a fitted model")
    (staging / "model" / "model.keras").write_bytes(network)
    section: dict = {
        "path": "model/model.keras",
        "format": "keras",
        "sha256": hashlib.sha256(network).hexdigest(),
        "estimator": type(estimator).__name__,
        "n_features": int(estimator.n_features_in_),
        "preprocess": None,
    }
    classes = None
    if hasattr(estimator, "classes_"):
        classes = [c.item() if hasattr(c, "item") else c for c in estimator.classes_]
    else:
        section.update({"y_mean": float(estimator.y_mean_), "y_scale": float(estimator.y_scale_)})
    needs_frame = False
    if steps:
        preprocess = Pipeline(steps)
        path = staging / "model" / "preprocess.skops"
        skops.io.dump(preprocess, path)
        trusted = trusted_types(path)
        foreign = sorted(t for t in trusted if t.split(".")[0] == "jupyter_stratum")
        if foreign:
            raise BundleError(
                f"the preprocessing of {ref} uses {', '.join(foreign)}, which the edge runtime "
                "cannot import (it ships without jupyter_stratum); use scikit-learn transformers"
            )
        section["preprocess"] = {
            "path": "model/preprocess.skops",
            "format": "skops",
            "sha256": sha256_file(path),
            "trusted_types": trusted,
        }
        needs_frame = hasattr(preprocess, "feature_names_in_")
    return KerasParts(section, classes, dict(archive.get("versions") or {}), needs_frame)


def check_against_model(model: Any, task: str, frame: Any, labels: list, proba: list | None) -> dict:
    """Compare the runtime's outputs for ``frame`` with the model's own ``predict`` / ``predict_proba``.

    Returns the manifest's record of the check; raises BundleError beyond :data:`TOLERANCE`.
    """
    import numpy as np

    from ..serve.served import compare_outputs, output_diff

    direct = np.asarray(model.predict(frame)).ravel().tolist()
    direct_proba = model.predict_proba(frame) if task == "classification" else None
    problem = compare_outputs(task, direct, direct_proba, labels, proba, TOLERANCE)
    if problem:
        raise BundleError(
            f"the runtime's Keras path does not reproduce the model's predictions: {problem}. "
            "The input schema may not match the model."
        )
    diff = output_diff(task, direct, direct_proba, labels, proba)
    return {"rows": len(direct), "max_abs_diff": diff, "tolerance": TOLERANCE}


def tensorflow_requirements(parts: KerasParts) -> list[str]:
    """TensorFlow (CPU build on x86_64, the plain wheel elsewhere) and Keras, pinned to training."""
    trained = {k.lower(): str(v) for k, v in parts.trained_versions.items()}
    tf = trained.get("tensorflow-cpu") or trained.get("tensorflow") or _installed("tensorflow-cpu", "tensorflow")
    keras = trained.get("keras") or _installed("keras")
    if not tf or not keras:
        raise BundleError(
            "TensorFlow/Keras are not installed where the bundle is built, so they cannot be pinned; "
            "install them (pip install 'jupyter-stratum[tensorflow]')"
        )
    out = [f"tensorflow-cpu=={tf}; {TF_X86}", f'tensorflow=={tf}; platform_machine != "x86_64"', f"keras=={keras}"]
    for lib in ("h5py", "ml-dtypes"):  # what the .keras format needs, as installed here
        version = _installed(lib)
        if version:
            out.append(f"{lib}=={version}")
    return out


def _installed(*dists: str) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


class KerasBundle(FlavorBundle):
    """The ``keras`` flavor's part of a build: network + preprocessing files, checks, TFLite copy, requirements."""

    flavor = "keras"
    copy_key = "tflite"

    def __init__(self, mv: Any, model: Any, task: str, schema: dict):
        super().__init__(mv, model, task, schema)
        self.parts: KerasParts | None = None

    def write_model_files(self, staging: Path) -> dict:
        self.parts = write_model_files(staging, self.mv, self.model)
        self.section, self.needs_frame = self.parts.section, self.parts.needs_frame
        return self.section

    def classes(self, registered: Any) -> Any:
        """The network's output classes, which must be the registry's."""
        found = self.parts.classes if self.parts is not None else None
        if found is None:
            return registered
        if registered is not None and [str(c) for c in registered] != [str(c) for c in found]:
            raise BundleError(
                f"the registry lists classes {list(registered)} for {self.ref}, but its network "
                f"outputs {found}; register the model again"
            )
        return found

    def copy_sections(self) -> dict:
        return {
            "onnx": {"available": False, "reason": NO_ONNX},
            "tflite": {"available": False, "reason": "not tried yet"},
        }

    def check(self, native_predict: RecordsPredict, sample: list[dict], rows: list[dict], expected: list) -> None:
        """float32 network: the runtime equals the notebook's model on every check row within :data:`TOLERANCE`."""
        outputs = native_predict(rows)
        frame = model_input(self.model, self.schema, rows)
        if frame is not None:
            self.section["check"] = check_against_model(self.model, self.task, frame, *outputs)

    def sample_fields(self) -> dict:
        return {"tolerance": TOLERANCE}

    def differs(self, recorded: list, expected: list) -> bool:
        from ..serve.served import compare_outputs

        return compare_outputs(self.task, recorded, None, expected[: len(recorded)], None, TOLERANCE) is not None

    def export_copy(
        self,
        staging: Path,
        write_manifest: Callable[[dict], None],
        rows: list[dict],
        native_predict: RecordsPredict,
        runtime_predict: Callable[[str], RecordsPredict],
    ) -> Any:
        """The TFLite copy, kept only when it matches the network."""
        from .tflite_export import export_tflite

        return export_tflite(
            task=self.task,
            staging=staging,
            write_manifest=write_manifest,
            records=rows,
            native_predict=native_predict,
            tflite_predict=lambda records: runtime_predict("tflite")(records),
        )

    def requirements(self, copy_available: bool) -> list[str]:
        assert self.parts is not None, "write_model_files() first"
        return pin_requirements(
            self.mv, RUNTIME_LIBS + (["pandas"] if self.needs_frame else []), TRANSITIVE_LIBS
        ) + tensorflow_requirements(self.parts)
