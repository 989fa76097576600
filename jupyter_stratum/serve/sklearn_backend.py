"""scikit-learn bundles (flavor ``sklearn``): the two backends.

- ``onnx`` (fast path): ONNX Runtime on the exact ONNX copy the bundle builder
  verified against the native model (labels equal, probabilities within 1e-5);
- ``native``: the scikit-learn model from its skops file, loaded with only the
  types the manifest lists as trusted (skops never runs arbitrary pickle code).

``auto`` picks ``onnx`` when the manifest says it is available and onnxruntime
imports, else ``native``. :func:`load_skops` and :func:`input_builder` serve the
Keras backend's preprocessing too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BundleLoadError
from .schema import TabularSchema
from .served import ServedModel


def choose_backend(manifest: dict, backend: str) -> str:
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


def load(model: ServedModel, threads: int) -> None:
    if model.backend == "onnx":
        _load_onnx(model, model.manifest["onnx"], threads)
    else:
        _load_native(model, threads)


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
    # the runtime has checked every value is finite already; a process-wide setting, so only in the
    # runtime's own process (threads > 0): an in-process caller (threads=0, e.g. the bundle builder
    # in a notebook kernel) keeps its scikit-learn config
    if threads and isinstance(schema, TabularSchema) and not any(c.nullable for c in schema.columns):
        try:
            import sklearn

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

    model.predictor = predict


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

    model.predictor = predict
