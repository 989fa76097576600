"""Build a model bundle from a registry version: the orchestration and the manifest.

What differs by flavor (the model files, how the runtime is checked against the
model, the smaller verified copy, the requirements) is the flavor's
:class:`.flavor.FlavorBundle`: :class:`.sklearn_bundle.SklearnBundle` or
:class:`.keras_bundle.KerasBundle`. Requirements and the wheelhouse are
:mod:`.requirements`.

The bundle is written into a staging directory beside ``out_dir`` and renamed
into place at the end, so a failed build leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError
from ..jsonsafe import to_jsonable as jsonable
from . import templates
from .flavor import FlavorBundle
from .input_rows import synthetic_records, with_categories, with_nullable
from .keras_bundle import KerasBundle
from .requirements import download_wheels, with_grpc
from .sklearn_bundle import SklearnBundle

FORMAT_VERSION = 1
SERVE_PACKAGE = Path(__file__).resolve().parent.parent / "serve"
RUNTIME_PACKAGE = "stratum_serve"
N_SYNTHETIC = 200


FLAVOR_BUNDLES: dict[str, Callable[[Any, Any, str, dict], FlavorBundle]] = {
    "sklearn": SklearnBundle,
    "keras": KerasBundle,
}
FLAVORS = tuple(FLAVOR_BUNDLES)


@dataclass(repr=False)
class Bundle:
    """A built bundle: its directory, its manifest and the ``DIR.tar.gz`` beside it."""

    path: Path
    manifest: dict
    tarball: Path | None

    @property
    def ref(self) -> str:
        return f"{self.manifest['name']}@{self.manifest['version']}"

    def to_text(self) -> str:
        m = self.manifest
        copy_key = "tflite" if m.get("flavor") == "keras" else "onnx"
        copy = m[copy_key]
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        lines = [
            f"Bundle {self.ref} -> {self.path} ({size / 1e6:.1f} MB)",
            f"  tarball:  {self.tarball}" if self.tarball else "  tarball:  (not written)",
            f"  task:     {m['task']}   algorithm: {m.get('algorithm')}",
            f"  {copy_key + ':':<9} {'yes' if copy['available'] else 'no'} - {copy['reason']}",
            f"  requires: {', '.join(m['requirements'])}",
            f"  wheelhouse: {'yes (' + str(m['wheelhouse']['platform']) + ')' if m.get('wheelhouse') else 'no'}",
            f"  start:    PYTHONPATH={self.path}/runtime python -m stratum_serve {self.path} --port 8500",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()


def build_bundle(
    ref: str,
    out_dir: str | os.PathLike | None = None,
    *,
    wheelhouse: bool = False,
    platform: str | None = None,
    registry: Any = None,
    force: bool = False,
    tarball: bool = True,
    grpc: bool = False,
) -> Bundle:
    """Bundle registry version ``ref`` (``"churn"`` or ``"churn@3"``) into ``out_dir``.

    ``out_dir`` becomes the bundle directory (default ``./bundles/NAME-VERSION``)
    and ``out_dir.tar.gz`` its tarball. ``wheelhouse=True`` adds the wheels of
    every requirement (for ``platform``, a pip platform tag such as
    ``manylinux2014_aarch64``, when the edge host differs from this machine). ``grpc=True`` pins
    grpcio and protobuf too, for a runtime started with ``--grpc-port``.
    """
    if registry is None:
        from ..registry import open_registry

        registry = open_registry()
    mv = registry.get(ref)
    if mv.flavor == "pipeline":  # every pinned model, the graph and the runtime (pipeline_bundle.py)
        from .pipeline_bundle import write_pipeline_bundle

        return write_pipeline_bundle(
            registry, mv, out_dir, wheelhouse=wheelhouse, platform=platform, force=force, tarball=tarball, grpc=grpc
        )
    model = mv.load()
    return write_bundle(
        mv, model, out_dir, wheelhouse=wheelhouse, platform=platform, force=force, tarball=tarball, grpc=grpc
    )


def write_bundle(
    mv: Any,
    model: Any,
    out_dir: str | os.PathLike | None,
    *,
    wheelhouse: bool = False,
    platform: str | None = None,
    force: bool = False,
    tarball: bool = True,
    grpc: bool = False,
) -> Bundle:
    """Bundle ``model`` described by ``mv`` (a :class:`ModelVersion` or any object with its fields)."""
    name, version = str(mv.name), str(mv.version)
    flavor = getattr(mv, "flavor", "sklearn") or "sklearn"
    if flavor not in FLAVORS:
        raise BundleError(
            f"{name}@{version} is a {flavor!r} model; bundles serve {' and '.join(FLAVORS)} models. "
            "Register a scikit-learn pipeline or a Keras template (keras_mlp, keras_cnn), or ask for the "
            "flavor to be added to the serve runtime."
        )
    final = model.steps[-1][1] if getattr(model, "steps", None) else model
    task = mv.task or ("classification" if hasattr(final, "classes_") else "regression")
    schema = dict(mv.input_schema or {})
    if not schema.get("columns") and not schema.get("shape"):
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            raise BundleError(
                f"{name}@{version} has no input schema, and the model does not record its column names; "
                "register it with lineage={'input_schema': {'columns': [{'name', 'dtype'}, ...]}}."
            )
        schema = {"columns": [{"name": str(c), "dtype": "float64"} for c in names]}
    if schema.get("columns"):
        schema = with_categories(schema, model)
        schema = with_nullable(schema, model, _registry_sample(mv))
    if schema.get("columns") and "shape" in schema:
        # images flattened into columns: the columns are what a request carries
        schema = {"columns": schema["columns"], "image_shape": schema["shape"]}

    return stage_bundle(
        out_dir,
        f"{name}-{version}",
        lambda staging: _build(staging, mv, model, name, version, task, schema, flavor, wheelhouse, platform, grpc),
        force=force,
        tarball=tarball,
    )


def stage_bundle(
    out_dir: str | os.PathLike | None, default: str, build: Callable[[Path], dict], *, force: bool, tarball: bool
) -> Bundle:
    """Run ``build(staging) -> manifest`` in a directory beside ``out_dir`` (default ``./bundles/DEFAULT``),
    rename it into place, then write ``OUT.tar.gz`` beside it: a failed build leaves nothing half-written."""
    out = Path(out_dir) if out_dir is not None else Path("bundles") / default
    out = out.expanduser().resolve()
    _check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)
    try:
        manifest = build(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tar_path = None
    if tarball:
        tar_path = out.parent / f"{out.name}.tar.gz"
        tmp = tar_path.with_name(tar_path.name + ".part")
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            tar.add(out, arcname=out.name)
        tmp.replace(tar_path)
    return Bundle(path=out, manifest=manifest, tarball=tar_path)


def _check_destination(out: Path, force: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise BundleError(f"{out} exists and is not a directory; choose another --out")
    if not any(out.iterdir()):
        out.rmdir()
        return
    if not (out / "manifest.json").is_file():
        raise BundleError(f"{out} exists and is not a bundle; choose an empty or new directory for --out")
    if not force:
        raise BundleError(f"{out} already holds a bundle; pass --force (force=True) to replace it")


def _build(staging: Path, mv, model, name, version, task, schema, flavor, wheelhouse, platform, grpc) -> dict:
    from ..serve.errors import BundleLoadError, RequestError
    from ..serve.manifest import sha256_file
    from ..serve.model_loader import load_bundle

    part: FlavorBundle = FLAVOR_BUNDLES[flavor](mv, model, task, schema)
    (staging / "model").mkdir()
    # 1. the model files (the flavor's: sklearn_bundle.py, keras_bundle.py)
    model_section = part.write_model_files(staging)

    # 2. the runtime, copied as a standalone package
    copy_runtime(staging)

    # 3. rows: the registry's holdout sample plus synthetic rows around it
    sample_records = _registry_sample(mv)
    rng = np.random.default_rng(0)
    check_records = sample_records + synthetic_records(schema, model, sample_records, rng, N_SYNTHETIC)
    if not sample_records:
        sample_records = check_records[:5]
        sample_source = "synthetic"
    else:
        sample_source = "holdout"

    registered = mv.classes if getattr(mv, "classes", None) is not None else getattr(model, "classes_", None)
    classes = part.classes(registered)
    # the smaller verified copy: ONNX for scikit-learn, TFLite for Keras
    copy_key = part.copy_key
    base = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "flavor": flavor,
        "task": task,
        "input_schema": schema,
        "classes": jsonable(classes),
        "model": model_section,
        "files": {},
        **part.copy_sections(),
    }

    def write_manifest(copy_section: dict) -> None:
        (staging / "manifest.json").write_text(json.dumps({**base, copy_key: copy_section}, indent=2))

    def runtime_predict(backend: str):
        """``predict(records)`` through the staged bundle's runtime, as an edge host runs it."""
        try:
            # threads=0: leave this process's thread pools (the notebook's) as they are
            served = load_bundle(staging, backend=backend, verify=False, threads=0)
        except BundleLoadError as exc:
            raise BundleError(f"the bundle of {name}@{version} cannot be loaded by its runtime: {exc}") from None
        if task == "classification" and base["classes"] is None:
            base["classes"] = served.classes

        def predict(records):
            batch, n = _to_batch(served, records)
            return served.predict(batch, n)

        return predict

    write_manifest(base[copy_key])
    native_predict = runtime_predict("native")

    # the expected outputs of the sample come from the model itself, through the runtime's own input path;
    # the flavor checks them against the model's own predictions
    try:
        expected, proba = native_predict(sample_records)
        part.check(native_predict, sample_records, check_records, expected)
    except RequestError as exc:
        raise BundleError(
            f"the sample rows of {name}@{version} do not fit its input schema: {exc.message}. "
            "Check input_schema in the registry."
        ) from None
    registry_expected = mv.sample.expected if mv.sample is not None else None
    sample = {"records": sample_records, "expected": expected, "source": sample_source}
    if proba is not None:
        sample["probabilities"] = proba
    sample.update(part.sample_fields())
    if registry_expected is not None and part.differs(registry_expected, expected):
        # e.g. the sample's floats were rounded when written as JSON; the runtime checks the new values
        sample["note"] = (
            f"the registry recorded {registry_expected} for these rows at training; "
            f"the model gives {expected} for them as stored"
        )

    # 4. the smaller copy (ONNX, TFLite), kept only when it matches the native model
    result = part.export_copy(staging, write_manifest, check_records, native_predict, runtime_predict)
    copy_section = dict(result.info) if result.available else {}
    copy_section.update({"available": result.available, "reason": result.reason})

    # 5. requirements pinned to the training versions
    requirements = part.requirements(result.available)
    if grpc:  # the runtime's --grpc-port
        requirements = with_grpc(requirements)
    (staging / "requirements.txt").write_text(
        f"# {name}@{version}: pinned to the versions used in training\n" + "\n".join(requirements) + "\n"
    )
    python = str((getattr(mv, "library_versions", None) or {}).get("python") or _platform.python_version())
    python_minor = ".".join(python.split(".")[:2])

    manifest = {
        **base,
        copy_key: copy_section,
        "sample": sample,
        # what the runtime's drift tracking compares served rows with (None: no drift tracking)
        "reference": jsonable(getattr(mv, "reference", None)),
        "requirements": requirements,
        "python": python_minor,
        "algorithm": getattr(mv, "algorithm", None) or type(model).__name__,
        "params": jsonable(getattr(mv, "params", None) or {}),
        "metrics": {
            "metric": getattr(mv, "metric", None),
            "cv_score": getattr(mv, "cv_score", None),
            "holdout_score": getattr(mv, "holdout_score", None),
            "holdout_scores": jsonable(getattr(mv, "holdout_scores", None) or {}),
        },
        "library_versions": jsonable(getattr(mv, "library_versions", None) or {}),
        "source": {
            "ref": f"{name}@{version}",
            "sha256": getattr(mv, "sha256", None) or model_section["sha256"],
            "created_at": getattr(mv, "created_at", None),
            "data_fingerprint": getattr(mv, "data_fingerprint", None),
        },
        "runtime": {
            "package": RUNTIME_PACKAGE,
            "version": _serve_version(),
            "start": f"PYTHONPATH=<bundle>/runtime python -m {RUNTIME_PACKAGE} <bundle> --port 8500",
        },
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wheelhouse": None,
    }
    if wheelhouse:
        manifest["wheelhouse"] = download_wheels(staging, requirements, platform, python_minor)

    (staging / "README.md").write_text(templates.readme(manifest))
    (staging / "Dockerfile").write_text(
        templates.DOCKERFILE.format(name=name, version=version, python=python_minor, image=f"{name.lower()}:{version}")
    )

    # 6. hashes of everything, then the final manifest
    files = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file() and path.name != "manifest.json" and "__pycache__" not in path.parts:
            files[path.relative_to(staging).as_posix()] = sha256_file(path)
    manifest["files"] = files
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # the bundle must load as the edge host will load it
    load_bundle(staging, backend="auto", verify=True, threads=0)
    return manifest


# ----------------------------------------------------------------- helpers
def copy_runtime(staging: Path) -> None:
    """The serve runtime, copied into ``staging/runtime/`` as the standalone package ``stratum_serve``."""
    runtime = staging / "runtime" / RUNTIME_PACKAGE
    runtime.mkdir(parents=True)
    for py in sorted(SERVE_PACKAGE.glob("*.py")):
        shutil.copyfile(py, runtime / py.name)
    (runtime / "_version.py").write_text(f'__version__ = "{_serve_version()}"\n')


def _registry_sample(mv) -> list[dict]:
    """The training sample's records (``ModelVersion.sample``), or none."""
    sample = mv.sample
    return [dict(r) for r in sample.records if isinstance(r, dict)] if sample is not None else []


def _to_batch(served, records):
    if hasattr(served.schema, "from_records"):
        return served.schema.from_records(records)
    return served.schema.check_array(records, "records")


def _serve_version() -> str:
    from ..serve import __version__

    return __version__
