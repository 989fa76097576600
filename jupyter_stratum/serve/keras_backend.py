"""Keras bundles: the skops preprocessing, then the ``.keras`` network (or its TFLite copy).

The only module of the runtime that imports TensorFlow (or a TFLite interpreter), and
only inside :func:`load`, so a scikit-learn bundle's server never pays for it.

Backends:

- ``native`` (the default, ``auto``): the ``.keras`` network through TensorFlow, called as
  ``network(x, training=False)`` in a ``tf.function`` with a fixed input signature (one
  trace, no per-call Python graph building);
- ``tflite``: the TFLite copy the builder kept only when it matched the network within the
  manifest's ``tflite.tolerance``. Runs on ``ai_edge_litert`` or ``tflite_runtime`` when
  installed (no TensorFlow needed), else on ``tf.lite``.

Outputs repeat ``jupyter_stratum.keras.estimators`` exactly: features as float32 (sparse
one-hot made dense), classifiers ``proba = out / out.sum()`` in float64 and
``label = classes[argmax(proba)]``, regressors ``out[:, 0] * y_scale + y_mean``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np

from .errors import BundleLoadError
from .served import ServedModel
from .sklearn_backend import input_builder, load_skops

CHUNK_ROWS = 4096  # as the estimator's predict: bounded tensors for large requests


def choose_backend(manifest: dict, backend: str) -> str:
    """``auto`` is the exact path (``native``); ``tflite`` only when the bundle kept a TFLite copy."""
    tflite = manifest.get("tflite") or {}
    if backend == "auto":
        return "native"
    if backend == "onnx":
        raise BundleLoadError(
            "a Keras bundle has no ONNX copy; use --backend native (the .keras network) or --backend tflite"
        )
    if backend == "tflite" and not tflite.get("available"):
        raise BundleLoadError(
            f"this bundle has no TFLite copy ({tflite.get('reason', 'not built')}); use --backend native"
        )
    return backend


def load(model: ServedModel, threads: int) -> None:
    info = model.manifest["model"]
    if info.get("format") != "keras":
        raise BundleLoadError(
            f"a keras bundle must hold a .keras model, this one holds format {info.get('format')!r}; rebuild the bundle"
        )
    features = _features(model, info, threads)
    width = int(info["n_features"])
    if model.backend == "tflite":
        raw = _tflite_runner(model, model.manifest["tflite"], width, threads)
    else:
        raw = _keras_runner(model, info, width, threads)
    model.has_proba = model.task == "classification"
    model.predictor = _predictor(model, info, features, raw)


def _features(model: ServedModel, info: dict, threads: int) -> Callable:
    """``features(batch, n)``: the rows through the fitted preprocessing, as the network's float32 input."""
    pre_info = info.get("preprocess")
    transformer = load_skops(model, pre_info, threads) if pre_info else None
    to_input = input_builder(model, transformer)

    def features(batch, n):
        X = to_input(batch, n)
        if transformer is not None:
            X = transformer.transform(X)
        if hasattr(X, "toarray"):  # sparse one-hot columns
            X = X.toarray()
        return np.ascontiguousarray(X, dtype=np.float32)

    return features


def _predictor(model: ServedModel, info: dict, features: Callable, raw: Callable) -> Callable:
    width = int(info["n_features"])
    if model.task == "classification":
        if not model.classes:
            raise BundleLoadError("the manifest of this Keras classifier lists no classes; rebuild the bundle")
        classes = np.asarray(model.classes, dtype=object)

        def outputs(out):
            proba = out.astype(np.float64)
            proba /= proba.sum(axis=1, keepdims=True)  # exact normalisation of float32 softmax
            return classes[proba.argmax(axis=1)].tolist(), proba.tolist()
    else:
        y_mean, y_scale = float(info.get("y_mean", 0.0)), float(info.get("y_scale", 1.0))

        def outputs(out):
            return (out[:, 0].astype(np.float64) * y_scale + y_mean).tolist(), None

    def predict(batch, n):
        X = features(batch, n)
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(f"the preprocessing gave {X.shape[-1]} features per row; the network takes {width}")
        if n == 0:
            return [], ([] if model.has_proba else None)
        out = np.concatenate([raw(X[i : i + CHUNK_ROWS]) for i in range(0, n, CHUNK_ROWS)])
        return outputs(out)

    return predict


def _tensorflow(threads: int):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import tensorflow as tf
    except ImportError:
        raise BundleLoadError(
            "TensorFlow is not installed, and this bundle holds a Keras model: install the bundle's requirements "
            "(pip install -r requirements.txt)"
        ) from None
    if threads:  # before the runtime starts: one op at a time, --threads inside each (0: as it is)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already ran in this process
            pass
    return tf


def _keras_runner(model: ServedModel, info: dict, width: int, threads: int) -> Callable:
    tf = _tensorflow(threads)
    import keras

    path = model.root / info["path"]
    try:  # safe_mode: no lambda layers, no arbitrary code from the file
        network = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - whatever Keras raises means "cannot serve"
        raise BundleLoadError(f"Keras cannot load {info['path']}: {type(exc).__name__}: {exc}") from None
    call = tf.function(lambda x: network(x, training=False), input_signature=[tf.TensorSpec([None, width], tf.float32)])

    def raw(X):
        return call(X).numpy()

    return raw


def _tflite_interpreter():
    for module in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            mod = __import__(module, fromlist=["Interpreter"])
            return mod.Interpreter
        except ImportError:
            continue
    try:
        tf = _tensorflow(0)
    except BundleLoadError:
        raise BundleLoadError(
            "no TFLite interpreter is installed: pip install ai-edge-litert "
            "(or the bundle's requirements, for TensorFlow)"
        ) from None
    return tf.lite.Interpreter


def _tflite_runner(model: ServedModel, info: dict, width: int, threads: int) -> Callable:
    interpreter_class = _tflite_interpreter()
    path = model.root / info["path"]
    try:
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
            warnings.simplefilter("ignore")
            interpreter = interpreter_class(model_path=str(path), num_threads=max(1, int(threads or 1)))
        interpreter.allocate_tensors()
    except Exception as exc:  # noqa: BLE001
        raise BundleLoadError(f"the TFLite interpreter cannot load {info['path']}: {exc}") from None
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    rows = [1]  # rows the input tensor is allocated for

    def raw(X):
        if len(X) != rows[0]:
            interpreter.resize_tensor_input(inp, [len(X), width])
            interpreter.allocate_tensors()
            rows[0] = len(X)
        interpreter.set_tensor(inp, X)
        interpreter.invoke()
        return interpreter.get_tensor(out).copy()

    return raw
