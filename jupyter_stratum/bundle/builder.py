"""Build a model bundle from a registry version.

The bundle is written into a staging directory beside ``out_dir`` and renamed
into place at the end, so a failed build leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError
from ..jsonsafe import to_jsonable as jsonable
from . import templates
from .input_rows import synthetic_records, with_categories, with_nullable
from .onnx_export import export_onnx

FORMAT_VERSION = 1
SERVE_PACKAGE = Path(__file__).resolve().parent.parent / "serve"
RUNTIME_PACKAGE = "stratum_serve"
N_SYNTHETIC = 200
FLAVORS = ("sklearn", "keras")


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
) -> Bundle:
    """Bundle registry version ``ref`` (``"churn"`` or ``"churn@3"``) into ``out_dir``.

    ``out_dir`` becomes the bundle directory (default ``./bundles/NAME-VERSION``)
    and ``out_dir.tar.gz`` its tarball. ``wheelhouse=True`` adds the wheels of
    every requirement (for ``platform``, a pip platform tag such as
    ``manylinux2014_aarch64``, when the edge host differs from this machine).
    """
    if registry is None:
        from ..registry import open_registry

        registry = open_registry()
    mv = registry.get(ref)
    model = mv.load()
    return write_bundle(mv, model, out_dir, wheelhouse=wheelhouse, platform=platform, force=force, tarball=tarball)


def write_bundle(
    mv: Any,
    model: Any,
    out_dir: str | os.PathLike | None,
    *,
    wheelhouse: bool = False,
    platform: str | None = None,
    force: bool = False,
    tarball: bool = True,
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

    out = Path(out_dir) if out_dir is not None else Path("bundles") / f"{name}-{version}"
    out = out.expanduser().resolve()
    _check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)
    try:
        manifest = _build(staging, mv, model, name, version, task, schema, flavor, wheelhouse, platform)
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


def _build(staging: Path, mv, model, name, version, task, schema, flavor, wheelhouse, platform) -> dict:
    from ..serve.errors import BundleLoadError
    from ..serve.model_loader import load_bundle, sha256_file

    (staging / "model").mkdir()
    # 1. the model files: the registry artifact byte for byte (sklearn), or the network and
    #    the preprocessing split out of the registry's archive (keras; see keras_bundle.py)
    keras_parts = None
    if flavor == "keras":
        from . import keras_bundle

        keras_parts = keras_bundle.write_model_files(staging, mv, model, trusted_types)
        model_section = keras_parts.section
        needs_pandas = keras_parts.needs_frame
    else:
        src = Path(mv.artifact_path)
        dst = staging / "model" / "model.skops"
        shutil.copyfile(src, dst)
        digest = sha256_file(dst)
        if getattr(mv, "sha256", None) and digest != mv.sha256:
            raise BundleError(
                f"the artifact of {name}@{version} does not match its registered sha256; "
                "restore it or register the model again"
            )
        model_section = {
            "path": "model/model.skops",
            "format": "skops",
            "sha256": digest,
            "trusted_types": trusted_types(dst),
        }
        needs_pandas = hasattr(model, "feature_names_in_")

    # 2. the runtime, copied as a standalone package
    runtime = staging / "runtime" / RUNTIME_PACKAGE
    runtime.mkdir(parents=True)
    for py in sorted(SERVE_PACKAGE.glob("*.py")):
        shutil.copyfile(py, runtime / py.name)

    # 3. rows: the registry's holdout sample plus synthetic rows around it
    sample_records = _registry_sample(mv)
    rng = np.random.default_rng(0)
    check_records = sample_records + synthetic_records(schema, model, sample_records, rng, N_SYNTHETIC)
    if not sample_records:
        sample_records = check_records[:5]
        sample_source = "synthetic"
    else:
        sample_source = "holdout"

    classes = mv.classes if getattr(mv, "classes", None) is not None else getattr(model, "classes_", None)
    if keras_parts is not None and keras_parts.classes is not None:
        if classes is not None and [str(c) for c in classes] != [str(c) for c in keras_parts.classes]:
            raise BundleError(
                f"the registry lists classes {list(classes)} for {name}@{version}, but its network "
                f"outputs {keras_parts.classes}; register the model again"
            )
        classes = keras_parts.classes
    # the smaller verified copy: ONNX for scikit-learn, TFLite for Keras
    copy_key = "tflite" if keras_parts is not None else "onnx"
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
        "onnx": {"available": False, "reason": "not tried yet"},
    }
    if keras_parts is not None:
        base["onnx"] = {"available": False, "reason": keras_bundle.NO_ONNX}
        base["tflite"] = {"available": False, "reason": "not tried yet"}

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

    # the expected outputs of the sample come from the model itself, through the runtime's own input path
    from ..serve.errors import RequestError

    try:
        expected, proba = native_predict(sample_records)
        check_outputs = native_predict(check_records) if keras_parts is not None else None
    except RequestError as exc:
        raise BundleError(
            f"the sample rows of {name}@{version} do not fit its input schema: {exc.message}. "
            "Check input_schema in the registry."
        ) from None
    if keras_parts is not None:  # float32 network: equal to the notebook's model within a tolerance
        frame = _model_input(model, schema, check_records)
        if frame is not None:
            model_section["check"] = keras_bundle.check_against_model(model, task, frame, *check_outputs)
    else:
        frame = _model_input(model, schema, sample_records)
        direct = None if frame is None else np.asarray(model.predict(frame)).ravel().tolist()
        if direct is not None and [str(v) for v in direct] != [str(v) for v in expected]:
            raise BundleError(
                f"the runtime's native path does not reproduce {name}@{version}.predict on the "
                f"sample rows ({direct[:5]} vs {expected[:5]}); the input schema may not match "
                "the model"
            )
    registry_expected = (_registry_sample_block(mv) or {}).get("expected")
    sample = {"records": sample_records, "expected": expected, "source": sample_source}
    if proba is not None:
        sample["probabilities"] = proba
    if keras_parts is not None:
        from ..serve.model_loader import compare_outputs

        sample["tolerance"] = keras_bundle.TOLERANCE
        recorded_differs = (
            registry_expected is not None
            and compare_outputs(
                task, registry_expected, None, expected[: len(registry_expected)], None, keras_bundle.TOLERANCE
            )
            is not None
        )
    else:
        recorded_differs = registry_expected is not None and [str(v) for v in registry_expected] != [
            str(v) for v in expected[: len(registry_expected)]
        ]
    if recorded_differs:
        # e.g. the sample's floats were rounded when written as JSON; the runtime checks the new values
        sample["note"] = (
            f"the registry recorded {registry_expected} for these rows at training; "
            f"the model gives {expected} for them as stored"
        )

    if keras_parts is not None:
        # 4. TFLite copy, kept only when it matches the network
        from .tflite_export import export_tflite

        result = export_tflite(
            task=task,
            staging=staging,
            write_manifest=write_manifest,
            records=check_records,
            native_predict=native_predict,
            tflite_predict=lambda records: runtime_predict("tflite")(records),
        )
    else:
        # 3b. one predict_proba pass instead of predict + predict_proba, where that is the same
        model_section["predict_from_proba"] = _predict_from_proba_holds(model, native_predict, check_records)
        # 4. ONNX copy, kept only when exact
        result = export_onnx(
            model,
            schema=schema,
            task=task,
            staging=staging,
            write_manifest=write_manifest,
            records=check_records,
            native_predict=native_predict,
            load_runtime=lambda: load_bundle(staging, backend="onnx", verify=False),
        )
    copy_section = dict(result.info) if result.available else {}
    copy_section.update({"available": result.available, "reason": result.reason})

    # 5. requirements pinned to the training versions
    if keras_parts is not None:
        requirements = _requirements(
            mv,
            ["numpy", "scipy", "scikit-learn", "skops"] + (["pandas"] if needs_pandas else []),
            ["joblib", "threadpoolctl", "narwhals"],
        ) + keras_bundle.tensorflow_requirements(keras_parts)
    else:
        onnx = result.available
        requirements = _requirements(
            mv,
            ["numpy", "scipy", "scikit-learn", "skops"]
            + (["pandas"] if needs_pandas else [])
            + (["onnxruntime"] if onnx else []),
            ["joblib", "threadpoolctl", "narwhals"] + (["protobuf", "flatbuffers"] if onnx else []),
        )
    (staging / "requirements.txt").write_text(
        f"# {name}@{version}: pinned to the versions used in training\n" + "\n".join(requirements) + "\n"
    )
    python = str((getattr(mv, "library_versions", None) or {}).get("python") or _platform.python_version())
    python_minor = ".".join(python.split(".")[:2])

    manifest = {
        **base,
        copy_key: copy_section,
        "sample": sample,
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
        manifest["wheelhouse"] = _download_wheels(staging, requirements, platform, python_minor)

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
def trusted_types(path: Path) -> list[str]:
    """The skops file's untrusted types, when the registry's trust rules allow every one."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    try:
        from ..registry.trust import check_types
    except ImportError:  # pragma: no cover - registry always ships with the package
        return list(untrusted)
    from ..errors import RegistryError

    try:
        return check_types(untrusted, str(path))
    except RegistryError as exc:
        raise BundleError(str(exc)) from None


#: estimators whose predict() is classes_[argmax(predict_proba())] in scikit-learn's own code
ARGMAX_ESTIMATORS = {
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
    "LogisticRegression",
}


def _predict_from_proba_holds(model, native_predict, records) -> bool:
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


def _registry_sample_block(mv) -> dict | None:
    sample = getattr(mv, "sample", None)
    if sample is None:
        sample = (getattr(mv, "extra", None) or {}).get("sample")
    return sample if isinstance(sample, dict) else None


def _registry_sample(mv) -> list[dict]:
    block = _registry_sample_block(mv)
    records = (block or {}).get("records") or []
    return [dict(r) for r in records if isinstance(r, dict)]


def _to_batch(served, records):
    if hasattr(served.schema, "from_records"):
        return served.schema.from_records(records)
    return served.schema.check_array(records, "records")


def _model_input(model, schema, records) -> Any:
    """The records as the model was fitted on them: a DataFrame with the schema's dtypes
    (an array when the model recorded no column names); None without pandas."""
    if not schema.get("columns"):
        return None
    try:
        import pandas as pd
    except ImportError:
        return None
    frame = pd.DataFrame(records, columns=[c["name"] for c in schema["columns"]])
    for c in schema["columns"]:
        try:
            frame[c["name"]] = frame[c["name"]].astype(c.get("dtype", "float64"))
        except (TypeError, ValueError):
            pass
    if not hasattr(model, "feature_names_in_"):
        frame = frame.to_numpy()
    return frame


def _requirements(mv, libs: list[str], transitive: list[str]) -> list[str]:
    """Direct runtime libraries pinned to the training versions (else this machine's), plus
    their libraries' own dependencies pinned to this machine's versions where installed."""
    trained = {str(k).lower(): str(v) for k, v in (getattr(mv, "library_versions", None) or {}).items()}
    out = []
    for lib in libs + transitive:
        version = trained.get(lib) or trained.get(lib.replace("scikit-learn", "sklearn"))
        if not version:
            try:
                version = metadata.version(lib)
            except metadata.PackageNotFoundError:
                if lib in transitive:
                    continue
                raise BundleError(
                    f"{lib} is not installed where the bundle is built, so it cannot be pinned; "
                    f"install it (pip install {lib})"
                ) from None
        out.append(f"{lib}=={version}")
    return out


def _download_wheels(staging: Path, requirements: list[str], platform: str | None, python_minor: str) -> dict:
    from .keras_bundle import for_platform

    house = staging / "wheelhouse"
    house.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        "-d",
        str(house),
        *for_platform(requirements, platform),
    ]
    if platform:
        digits = python_minor.replace(".", "")
        cmd += [
            "--platform",
            platform,
            "--python-version",
            python_minor,
            "--implementation",
            "cp",
            "--abi",
            f"cp{digits}",
        ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise BundleError(
            "pip could not download the wheels for the bundle's requirements"
            f"{' for platform ' + platform if platform else ''}:\n{tail}\n"
            "Check that a package index is reachable, or build without --wheelhouse."
        )
    wheels = sorted(p.name for p in house.iterdir() if p.is_file())
    return {"platform": platform or _platform_tag(), "python": python_minor, "wheels": wheels}


def _platform_tag() -> str:
    try:
        from packaging.tags import sys_tags

        return str(next(iter(sys_tags())).platform)
    except Exception:  # noqa: BLE001
        return f"{sys.platform}_{_platform.machine()}"


def _serve_version() -> str:
    from ..serve import __version__

    return __version__
