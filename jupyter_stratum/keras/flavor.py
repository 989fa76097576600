"""The registry's ``keras`` flavor: a scikit-learn Pipeline whose last step is a Keras model.

One artifact file (the registry keeps one sha256 per version and checks it on
every load), a zip archive with suffix ``.keras-pipeline.zip`` holding:

- ``model.keras`` — the network in the Keras ``.keras`` format;
- ``pipeline.skops`` — the Pipeline (preprocessing and the estimator's own
  attributes: ``classes_``, ``history_`` ...) without the network, in skops
  format, loaded with the registry's trust rules (no pickle, no arbitrary types);
- ``manifest.json`` — format, versions, and the sha256 of both files, checked
  again when loading.

Loading never runs code from the file: skops rebuilds only trusted types and
Keras loads with ``safe_mode=True`` (no lambda layers). TensorFlow is imported
only when the model first predicts.

The flavor is registered with :func:`jupyter_stratum.registry.register_flavor`
by :func:`register` — called whenever a Keras estimator is fitted or unpickled
in a process, and by :func:`ensure` before loading a ``keras`` version in a
fresh process (``import jupyter_stratum.keras.flavor`` does it too).
"""

from __future__ import annotations

import copy
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

FLAVOR = "keras"
SUFFIX = ".keras-pipeline.zip"
FORMAT = "jupyter-stratum/keras-pipeline"
FORMAT_VERSION = 1
_MODEL, _PIPELINE, _MANIFEST = "model.keras", "pipeline.skops", "manifest.json"


def _final_step(model) -> tuple[Any, Any]:
    """(container, keras estimator): the estimator itself, or a Pipeline and its last step."""
    from .estimators import _KerasEstimator

    if isinstance(model, _KerasEstimator):
        return None, model
    steps = getattr(model, "steps", None)
    if steps and isinstance(steps[-1][1], _KerasEstimator):
        return model, steps[-1][1]
    raise TypeError(
        f"the keras flavor stores a Keras estimator or a Pipeline ending in one, got {type(model).__name__}"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(model: Any, path: Path) -> None:
    import skops.io

    from .estimators import keras_bytes

    container, estimator = _final_step(model)
    network = keras_bytes(estimator.model_)
    bare = copy.copy(estimator)  # same attributes, no network (its state then holds no bytes)
    bare._model = None
    bare._keras_bytes = None
    if container is None:
        stripped = bare
    else:
        stripped = copy.copy(container)
        stripped.steps = list(container.steps[:-1]) + [(container.steps[-1][0], bare)]
    pipeline = skops.io.dumps(stripped)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "pipeline": container is not None,
        "sha256": {_MODEL: _sha256(network), _PIPELINE: _sha256(pipeline)},
        "versions": _versions(),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(_MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        zf.writestr(_PIPELINE, pipeline)
        zf.writestr(_MODEL, network)


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("keras", "tensorflow", "tensorflow-cpu", "scikit-learn", "skops"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _read(path: Path) -> tuple[dict, bytes, bytes]:
    from ..errors import RegistryError

    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read(_MANIFEST))
            pipeline, network = zf.read(_PIPELINE), zf.read(_MODEL)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RegistryError(
            f"{path} is not a readable Keras pipeline archive ({exc}). Re-register the model."
        ) from None
    if manifest.get("format") != FORMAT or manifest.get("format_version", 0) > FORMAT_VERSION:
        raise RegistryError(
            f"{path} has format {manifest.get('format')!r} v{manifest.get('format_version')}; "
            f"this jupyter-stratum reads {FORMAT} v{FORMAT_VERSION}. Upgrade jupyter-stratum."
        )
    for member, data in ((_PIPELINE, pipeline), (_MODEL, network)):
        expected = manifest.get("sha256", {}).get(member)
        if expected != _sha256(data):
            raise RegistryError(
                f"{member} inside {path} does not match its sha256 in the manifest "
                f"(expected {expected}, found {_sha256(data)}). Refusing to load it."
            )
    return manifest, pipeline, network


def read_archive(path: Path) -> tuple[dict, bytes, bytes]:
    """(manifest, ``pipeline.skops`` bytes, ``model.keras`` bytes) of an archive, each sha256 checked.

    For readers that need the files themselves (the bundle builder copies ``model.keras``
    byte for byte); never imports TensorFlow.
    """
    return _read(Path(path))


def _untrusted(pipeline: bytes, path: Path) -> list[str]:
    import skops.io

    from ..registry.trust import check_types

    return check_types(skops.io.get_untrusted_types(data=pipeline), str(path))


def load(path: Path) -> Any:
    import skops.io

    _, pipeline, network = _read(path)
    model = skops.io.loads(pipeline, trusted=_untrusted(pipeline, path))
    _, estimator = _final_step(model)
    estimator._model = None
    estimator._keras_bytes = network  # the network is rebuilt (TensorFlow imported) on first predict
    return model


def check(path: Path) -> None:
    """Refuse to register what could not be loaded back (untrusted types, a broken network file)."""
    from ..errors import RegistryError

    _, pipeline, network = _read(path)
    try:
        _untrusted(pipeline, path)
    except RegistryError as exc:
        raise RegistryError(f"the model holds types the registry will not load: {exc}") from None
    from .estimators import model_from_keras_bytes

    try:
        model_from_keras_bytes(network)
    except Exception as exc:  # noqa: BLE001 - whatever Keras raises
        raise RegistryError(f"its Keras network could not be loaded back: {type(exc).__name__}: {exc}.") from None


def register() -> None:
    """Make ``flavor="keras"`` known to the registry (idempotent)."""
    from ..registry import flavor_names, register_flavor

    if FLAVOR not in flavor_names():
        register_flavor(FLAVOR, save, load, SUFFIX, check=check)


register()
