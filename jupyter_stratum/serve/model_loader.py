"""Load a bundle: read the manifest, check every file's sha256, load the model.

The flavor's backend does the loading: :mod:`.sklearn_backend` for scikit-learn
bundles (``onnx`` or ``native``), :mod:`.keras_backend` for Keras bundles
(``native``: the ``.keras`` network through TensorFlow; ``tflite``: its verified
TFLite copy), which alone imports TensorFlow. A pipeline bundle loads each of its models so
(:mod:`.pipeline_runtime`). Then :func:`.served.self_check` predicts the manifest's sample rows.
"""

from __future__ import annotations

import os

from .errors import BundleLoadError
from .manifest import read_manifest, verify_files
from .served import ServedModel, self_check

BACKENDS = ("auto", "onnx", "native", "tflite")


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
    if manifest.get("kind") == "pipeline":
        from .pipeline_runtime import load_pipeline

        model = load_pipeline(root, manifest, backend, threads, max_rows, verify)
    elif flavor == "keras":
        from . import keras_backend  # the only module that imports TensorFlow

        backend = keras_backend.choose_backend(manifest, backend)
        model = ServedModel(root, manifest, backend, max_rows)
        keras_backend.load(model, threads)
    elif flavor == "sklearn":
        from . import sklearn_backend

        backend = sklearn_backend.choose_backend(manifest, backend)
        model = ServedModel(root, manifest, backend, max_rows)
        sklearn_backend.load(model, threads)
    else:
        raise BundleLoadError(
            f"this runtime serves scikit-learn and Keras bundles; this one holds flavor "
            f"{flavor!r}. Use the stratum_serve runtime that came with the bundle."
        )
    if verify:
        self_check(model)
    return model
