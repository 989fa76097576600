"""Load a bundle: read the manifest, check every file's sha256, load the model.

scikit-learn bundles (flavor ``sklearn``) have two backends:

- ``onnx`` (fast path): ONNX Runtime on the exact ONNX copy the bundle builder
  verified against the native model (labels equal, probabilities within 1e-5);
- ``native``: the scikit-learn model from its skops file, loaded with only the
  types the manifest lists as trusted (skops never runs arbitrary pickle code).

``auto`` picks ``onnx`` when the manifest says it is available and onnxruntime
imports, else ``native``. Keras bundles (flavor ``keras``) are loaded by
:mod:`.keras_backend` (``native``: the ``.keras`` network through TensorFlow;
``tflite``: its verified TFLite copy), which alone imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BundleLoadError
from .schema import TabularSchema, make_schema

MANIFEST = "manifest.json"
SUPPORTED_FORMATS = (1,)
BACKENDS = ("auto", "onnx", "native", "tflite")
PLATFORMS = {
    ("sklearn", "native"): "sklearn_skops",
    ("sklearn", "onnx"): "onnxruntime_onnx",
    ("keras", "native"): "tensorflow_keras",
    ("keras", "tflite"): "tensorflow_tflite",
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(bundle: str | os.PathLike) -> tuple[Path, dict]:
    root = Path(bundle)
    path = root / MANIFEST
    if not path.is_file():
        raise BundleLoadError(
            f"{root} is not a model bundle: it has no {MANIFEST} (build one with `stratum bundle NAME`)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleLoadError(f"{path} cannot be read as JSON: {exc}") from None
    fmt = manifest.get("format_version", 1)
    if fmt not in SUPPORTED_FORMATS:
        raise BundleLoadError(
            f"{path}: bundle format {fmt} is newer than this runtime understands ({SUPPORTED_FORMATS})"
        )
    for key in ("name", "version", "task", "input_schema", "files", "model"):
        if key not in manifest:
            raise BundleLoadError(f"{path}: the manifest lacks '{key}'; rebuild the bundle")
    return root, manifest


def verify_files(root: Path, manifest: dict, *, include_wheelhouse: bool = False) -> None:
    """Raise if a listed file is missing or its sha256 differs from the manifest."""
    for rel, digest in manifest["files"].items():
        if not include_wheelhouse and rel.startswith("wheelhouse/"):
            continue
        path = (root / rel).resolve()
        if root.resolve() not in path.parents:
            raise BundleLoadError(f"manifest lists {rel!r}, which lies outside the bundle")
        if not path.is_file():
            raise BundleLoadError(f"bundle file {rel} is missing; the bundle is incomplete, copy or rebuild it")
        if sha256_file(path) != digest:
            raise BundleLoadError(
                f"bundle file {rel} does not match its sha256 in the manifest: it was changed or damaged; "
                "rebuild the bundle or copy it again"
            )


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
        self._predict = None  # set by the backend loaders below

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
        return self._predict(batch, n)


# --------------------------------------------------------------------------
def load_bundle(
    bundle: str | os.PathLike,
    *,
    backend: str = "auto",
    verify: bool = True,
    threads: int = 1,
    max_rows: int = 10000,
) -> ServedModel:
    root, manifest = read_manifest(bundle)
    if verify:
        verify_files(root, manifest)
    if backend not in BACKENDS:
        raise BundleLoadError(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}")
    flavor = manifest.get("flavor", "sklearn")
    if flavor == "keras":
        from . import keras_backend  # the only module that imports TensorFlow

        backend = keras_backend.choose_backend(manifest, backend)
        model = ServedModel(root, manifest, backend, max_rows)
        keras_backend.load(model, threads)
    elif flavor == "sklearn":
        backend = _sklearn_backend(manifest, backend)
        model = ServedModel(root, manifest, backend, max_rows)
        if backend == "onnx":
            _load_onnx(model, manifest["onnx"], threads)
        else:
            _load_native(model, threads)
    else:
        raise BundleLoadError(
            f"this runtime serves scikit-learn and Keras bundles; this one holds flavor "
            f"{flavor!r}. Use the stratum_serve runtime that came with the bundle."
        )
    if verify:
        self_check(model)
    return model


def _sklearn_backend(manifest: dict, backend: str) -> str:
    onnx_info = manifest.get("onnx") or {}
    if backend == "tflite":
        raise BundleLoadError("a TFLite copy exists only in Keras bundles; use --backend auto, onnx or native")
    if backend == "auto":
        if onnx_info.get("available"):
            try:
                import onnxruntime  # noqa: F401

                return "onnx"
            except ImportError:
                pass
        return "native"
    if backend == "onnx" and not onnx_info.get("available"):
        raise BundleLoadError(
            f"this bundle has no ONNX copy ({onnx_info.get('reason', 'not built')}); use --backend native"
        )
    return backend


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
        a, b = expected, got
    elif expected_proba is not None and got_proba is not None:
        a, b = expected_proba, got_proba
    else:
        return 0.0
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
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


def load_skops(model: ServedModel, info: dict, threads: int) -> Any:
    """The estimator in ``info["path"]`` (skops, only ``info["trusted_types"]`` rebuilt),
    with the BLAS/OpenMP pools sized to ``threads``."""
    if info.get("format") != "skops":
        raise BundleLoadError(
            f"{info.get('path')} is in format {info.get('format')!r}; this runtime reads "
            "scikit-learn objects stored with skops"
        )
    try:
        import skops.io as sio
    except ImportError:
        raise BundleLoadError(
            "skops is not installed: install the bundle's requirements (pip install -r requirements.txt)"
        ) from None
    path = model.root / info["path"]
    trusted = list(info.get("trusted_types") or [])
    try:
        estimator = sio.load(path, trusted=trusted)
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot serve"
        raise BundleLoadError(f"cannot load {info['path']} with skops: {exc}") from None
    if threads:
        try:  # BLAS/OpenMP pools sized to --threads: no spinning threads fighting the event loop
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=threads)
        except ImportError:
            pass
    schema = model.schema
    try:  # the runtime has checked every value is finite already
        import sklearn

        if isinstance(schema, TabularSchema) and not any(c.nullable for c in schema.columns):
            sklearn.set_config(assume_finite=True)
    except ImportError:
        pass
    return estimator


def input_builder(model: ServedModel, estimator: Any):
    """``to_input(batch, n)``: the checked batch as what ``estimator`` was fitted on
    (a DataFrame with the schema's dtypes when it recorded column names, else a float64 array)."""
    schema = model.schema
    if not isinstance(schema, TabularSchema):

        def to_array(arr, n):
            return arr.reshape(n, -1) if arr.ndim > 2 else arr

        return to_array
    needs_frame = hasattr(estimator, "feature_names_in_")
    if needs_frame:
        try:
            import pandas as pd
        except ImportError:
            raise BundleLoadError("the model was fitted on a pandas DataFrame: install pandas") from None
    cols = [(c.name, c.numpy_dtype) for c in schema.columns]
    names = [name for name, _ in cols]
    # one float64 block when every column is float: sklearn then converts the frame
    # to an array without copying column by column
    single_block = all(c.numpy_dtype == np.float64 for c in schema.columns)

    def to_input(rows: list, n: int):
        if needs_frame:
            if single_block:
                return pd.DataFrame(np.array(rows, dtype=np.float64), columns=names, copy=False)
            return pd.DataFrame(
                {name: np.asarray([r[j] for r in rows], dtype=dt) for j, (name, dt) in enumerate(cols)}, copy=False
            )
        return np.array(rows, dtype=np.float64)

    return to_input


def _load_native(model: ServedModel, threads: int) -> None:
    estimator = load_skops(model, model.manifest["model"], threads)
    is_classifier = model.task == "classification"
    has_proba = is_classifier and hasattr(estimator, "predict_proba")
    model.has_proba = has_proba
    if is_classifier:
        classes = getattr(estimator, "classes_", None)
        if classes is not None:
            found = classes.tolist()
            if model.classes is None:
                model.classes = found
            elif [str(c) for c in found] != [str(c) for c in model.classes]:
                raise BundleLoadError(f"the model's classes {found} differ from the manifest's {model.classes}")
    model.estimator = estimator
    to_input = input_builder(model, estimator)

    # for estimators whose predict() is by definition classes_[argmax(predict_proba)]
    # (forests, trees, logistic regression), one pass gives both; the bundle builder
    # sets this only after checking it on the verification rows
    from_proba = has_proba and bool(model.manifest["model"].get("predict_from_proba"))
    classes_arr = getattr(estimator, "classes_", None)

    def predict(batch, n):
        X = to_input(batch, n)
        if from_proba:
            proba = estimator.predict_proba(X)
            return classes_arr[proba.argmax(axis=1)].tolist(), proba.tolist()
        pred = estimator.predict(X)
        proba = estimator.predict_proba(X).tolist() if has_proba else None
        return np.asarray(pred).ravel().tolist(), proba

    model._predict = predict


def _load_onnx(model: ServedModel, info: dict, threads: int) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    path = model.root / info["path"]
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise BundleLoadError(f"onnxruntime cannot load {info['path']}: {exc}") from None
    inputs = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    label_out = info.get("label_output", outputs[0])
    proba_out = info.get("probability_output")
    model.has_proba = model.task == "classification" and bool(proba_out)
    wanted = [label_out] + ([proba_out] if model.has_proba else [])
    mode = info.get("input_mode", "tensor")
    dtype = np.float64 if info.get("input_type", "double") == "double" else np.float32
    schema = model.schema
    model.session = session

    if mode == "tensor":
        name = inputs[0].name
        if isinstance(schema, TabularSchema):

            def feeds(rows, n):
                return {name: np.array(rows, dtype=dtype)}
        else:

            def feeds(arr, n):
                return {name: np.ascontiguousarray(arr.reshape(n, -1), dtype=dtype)}
    else:  # one ONNX input per column, in schema order
        if len(inputs) != len(schema.columns):
            raise BundleLoadError(
                f"the ONNX copy has {len(inputs)} inputs for {len(schema.columns)} columns; rebuild the bundle"
            )
        plan = []
        for j, (inp, _col) in enumerate(zip(inputs, schema.columns)):
            t = inp.type
            dt = (
                np.float32
                if t == "tensor(float)"
                else np.float64
                if t == "tensor(double)"
                else np.int64
                if t == "tensor(int64)"
                else np.bool_
                if t == "tensor(bool)"
                else object
            )
            plan.append((inp.name, j, dt))

        def feeds(rows, n):
            out = {}
            for onnx_name, j, dt in plan:
                values = [r[j] for r in rows]
                if dt is object:
                    arr = np.array(["" if v is None else str(v) for v in values], dtype=object)
                else:
                    arr = np.asarray(values, dtype=dt)
                out[onnx_name] = arr.reshape(n, 1)
            return out

    def predict(batch, n):
        result = session.run(wanted, feeds(batch, n))
        labels = result[0].ravel().tolist()
        proba = result[1].tolist() if model.has_proba else None
        return labels, proba

    model._predict = predict


__all__ = [
    "ServedModel",
    "compare_outputs",
    "input_builder",
    "load_bundle",
    "load_skops",
    "output_diff",
    "read_manifest",
    "sha256_file",
    "verify_files",
]
