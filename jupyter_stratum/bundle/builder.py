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
from . import templates
from .onnx_export import export_onnx

FORMAT_VERSION = 1
SERVE_PACKAGE = Path(__file__).resolve().parent.parent / "serve"
RUNTIME_PACKAGE = "stratum_serve"
N_SYNTHETIC = 200



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
        onnx = m["onnx"]
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        lines = [
            f"Bundle {self.ref} -> {self.path} ({size / 1e6:.1f} MB)",
            f"  tarball:  {self.tarball}" if self.tarball else "  tarball:  (not written)",
            f"  task:     {m['task']}   algorithm: {m.get('algorithm')}",
            f"  onnx:     {'yes' if onnx['available'] else 'no'} - {onnx['reason']}",
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
    if flavor != "sklearn":
        raise BundleError(
            f"{name}@{version} is a {flavor!r} model; bundles serve scikit-learn models so far. "
            "Register a scikit-learn pipeline, or ask for the flavor to be added to the serve runtime."
        )
    task = mv.task or ("classification" if hasattr(model, "classes_") else "regression")
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
        schema = _with_categories(schema, model)
        schema = _with_nullable(schema, model, _registry_sample(mv))
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
        manifest = _build(staging, mv, model, name, version, task, schema, wheelhouse, platform)
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


def _build(staging: Path, mv, model, name, version, task, schema, wheelhouse, platform) -> dict:
    from ..serve.model_loader import load_bundle, sha256_file

    (staging / "model").mkdir()
    # 1. the model artifact, byte for byte the registry's (its sha256 checked)
    src = Path(mv.artifact_path)
    dst = staging / "model" / "model.skops"
    shutil.copyfile(src, dst)
    digest = sha256_file(dst)
    if getattr(mv, "sha256", None) and digest != mv.sha256:
        raise BundleError(f"the artifact of {name}@{version} does not match its registered sha256; "
                          "restore it or register the model again")
    trusted = _trusted_types(dst)

    # 2. the runtime, copied as a standalone package
    runtime = staging / "runtime" / RUNTIME_PACKAGE
    runtime.mkdir(parents=True)
    for py in sorted(SERVE_PACKAGE.glob("*.py")):
        shutil.copyfile(py, runtime / py.name)

    # 3. rows: the registry's holdout sample plus synthetic rows around it
    sample_records = _registry_sample(mv)
    rng = np.random.default_rng(0)
    check_records = sample_records + _synthetic_records(schema, model, sample_records, rng, N_SYNTHETIC)
    if not sample_records:
        sample_records = check_records[:5]
        sample_source = "synthetic"
    else:
        sample_source = "holdout"

    needs_pandas = hasattr(model, "feature_names_in_")
    base = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "flavor": "sklearn",
        "task": task,
        "input_schema": schema,
        "classes": _jsonable(mv.classes if getattr(mv, "classes", None) is not None
                             else getattr(model, "classes_", None)),
        "model": {"path": "model/model.skops", "format": "skops", "sha256": digest, "trusted_types": trusted},
        "files": {},
        "onnx": {"available": False, "reason": "not tried yet"},
    }

    def write_manifest(onnx_section: dict) -> None:
        (staging / "manifest.json").write_text(json.dumps({**base, "onnx": onnx_section}, indent=2))

    write_manifest(base["onnx"])
    native = load_bundle(staging, backend="native", verify=False)
    if task == "classification" and base["classes"] is None:
        base["classes"] = native.classes

    def native_predict(records):
        batch, n = _to_batch(native, records)
        return native.predict(batch, n)

    # the expected outputs of the sample come from the model itself, through the runtime's own input path
    from ..serve.errors import RequestError

    try:
        expected, proba = native_predict(sample_records)
    except RequestError as exc:
        raise BundleError(f"the sample rows of {name}@{version} do not fit its input schema: {exc.message}. "
                          "Check input_schema in the registry.") from None
    direct = _direct_predict(model, schema, sample_records)
    if direct is not None and [str(v) for v in direct] != [str(v) for v in expected]:
        raise BundleError(f"the runtime's native path does not reproduce {name}@{version}.predict on the "
                          f"sample rows ({direct[:5]} vs {expected[:5]}); the input schema may not match the model")
    registry_expected = (_registry_sample_block(mv) or {}).get("expected")
    sample = {"records": sample_records, "expected": expected, "source": sample_source}
    if proba is not None:
        sample["probabilities"] = proba
    if registry_expected is not None and \
            [str(v) for v in registry_expected] != [str(v) for v in expected[:len(registry_expected)]]:
        # e.g. the sample's floats were rounded when written as JSON; the runtime checks the new values
        sample["note"] = (f"the registry recorded {registry_expected} for these rows at training; "
                          f"the model gives {expected} for them as stored")

    # 3b. one predict_proba pass instead of predict + predict_proba, where that is the same
    base["model"]["predict_from_proba"] = _predict_from_proba_holds(model, native_predict, check_records)

    # 4. ONNX copy, kept only when exact
    result = export_onnx(
        model, schema=schema, task=task, staging=staging, write_manifest=write_manifest,
        records=check_records, native_predict=native_predict,
        load_runtime=lambda: load_bundle(staging, backend="onnx", verify=False),
    )
    onnx_section = dict(result.info) if result.available else {}
    onnx_section.update({"available": result.available, "reason": result.reason})

    # 5. requirements pinned to the training versions
    requirements = _requirements(mv, needs_pandas, result.available)
    (staging / "requirements.txt").write_text(
        f"# {name}@{version}: pinned to the versions used in training\n" + "\n".join(requirements) + "\n"
    )
    python = str((getattr(mv, "library_versions", None) or {}).get("python") or _platform.python_version())
    python_minor = ".".join(python.split(".")[:2])

    manifest = {
        **base,
        "onnx": onnx_section,
        "sample": sample,
        "requirements": requirements,
        "python": python_minor,
        "algorithm": getattr(mv, "algorithm", None) or type(model).__name__,
        "params": _jsonable(getattr(mv, "params", None) or {}),
        "metrics": {
            "metric": getattr(mv, "metric", None),
            "cv_score": getattr(mv, "cv_score", None),
            "holdout_score": getattr(mv, "holdout_score", None),
            "holdout_scores": _jsonable(getattr(mv, "holdout_scores", None) or {}),
        },
        "library_versions": _jsonable(getattr(mv, "library_versions", None) or {}),
        "source": {
            "ref": f"{name}@{version}",
            "sha256": getattr(mv, "sha256", None) or digest,
            "created_at": getattr(mv, "created_at", None),
            "data_fingerprint": getattr(mv, "data_fingerprint", None),
        },
        "runtime": {"package": RUNTIME_PACKAGE, "version": _serve_version(),
                    "start": f"PYTHONPATH=<bundle>/runtime python -m {RUNTIME_PACKAGE} <bundle> --port 8500"},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wheelhouse": None,
    }
    if wheelhouse:
        manifest["wheelhouse"] = _download_wheels(staging, platform, python_minor)

    (staging / "README.md").write_text(templates.readme(manifest))
    (staging / "Dockerfile").write_text(templates.DOCKERFILE.format(
        name=name, version=version, python=python_minor, image=f"{name.lower()}:{version}"))

    # 6. hashes of everything, then the final manifest
    files = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file() and path.name != "manifest.json" and "__pycache__" not in path.parts:
            files[path.relative_to(staging).as_posix()] = sha256_file(path)
    manifest["files"] = files
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # the bundle must load as the edge host will load it
    load_bundle(staging, backend="auto", verify=True)
    return manifest


# ----------------------------------------------------------------- helpers
def _trusted_types(path: Path) -> list[str]:
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
ARGMAX_ESTIMATORS = {"RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier",
                     "ExtraTreeClassifier", "LogisticRegression"}


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


def _direct_predict(model, schema, records) -> list | None:
    """``model.predict`` on the records as a DataFrame with the schema's dtypes (None without pandas)."""
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
    return np.asarray(model.predict(frame)).ravel().tolist()


def _fitted_stats(model) -> tuple[dict, dict]:
    """Per-column (mean, std) and categories found in the model's fitted preprocessing."""
    stats: dict[str, tuple[float, float]] = {}
    cats: dict[str, list] = {}
    strict: set[str] = set()

    def walk(est):
        if est is None or isinstance(est, str):
            return
        for _, step in getattr(est, "steps", None) or []:
            walk(step)
        for item in getattr(est, "transformers_", None) or []:
            walk(item[1])
        names = getattr(est, "feature_names_in_", None)
        if names is None:
            return
        names = [str(n) for n in names]
        mean, scale = getattr(est, "mean_", None), getattr(est, "scale_", None)
        if mean is not None and len(mean) == len(names):
            for i, n in enumerate(names):
                s = float(scale[i]) if scale is not None else 1.0
                stats.setdefault(n, (float(mean[i]), s if np.isfinite(s) and s > 0 else 1.0))
        categories = getattr(est, "categories_", None)
        if categories is not None and len(categories) == len(names):
            for n, values in zip(names, categories):
                cats.setdefault(n, [v.item() if hasattr(v, "item") else v for v in values
                                    if not (isinstance(v, float) and np.isnan(v)) and v is not None])
                if getattr(est, "handle_unknown", None) == "error":
                    strict.add(n)

    walk(model)
    return stats, cats, strict


def _with_categories(schema: dict, model) -> dict:
    """Add the fitted encoders' categories to string columns; mark those the model refuses to extend."""
    _, cats, strict = _fitted_stats(model)
    columns = []
    for col in schema["columns"]:
        col = dict(col)
        name = col["name"]
        if name in cats and "categories" not in col and not str(col.get("dtype", "")).startswith(("float", "int", "uint")):
            col["categories"] = _jsonable(cats[name])
            if name in strict:
                col["categories_strict"] = True
        columns.append(col)
    return {**schema, "columns": columns}


def _accepts_missing(model) -> bool:
    """True when the pipeline fills or handles NaN itself (an imputer, or a NaN-aware estimator)."""
    def walk(est) -> bool:
        if est is None or isinstance(est, str):
            return False
        name = type(est).__name__
        if "Imputer" in name or name.startswith("HistGradientBoosting"):
            return True
        children = [step for _, step in getattr(est, "steps", None) or []]
        children += [item[1] for item in getattr(est, "transformers_", None) or []]
        return any(walk(c) for c in children)

    return walk(model)


def _with_nullable(schema: dict, model, sample: list[dict]) -> dict:
    """Mark columns that may be null: those null in the holdout sample, and every column
    when the model handles missing values itself (null is then sent to it as NaN/None)."""
    every = _accepts_missing(model)
    columns = []
    for col in schema["columns"]:
        col = dict(col)
        if every or any(r.get(col["name"]) is None for r in sample):
            col.setdefault("nullable", True)
        columns.append(col)
    return {**schema, "columns": columns}


def _synthetic_records(schema, model, sample, rng, n) -> list[dict]:
    """Rows to check the ONNX copy on beyond the holdout sample: drawn around the
    sample (or the fitted scaler's mean/std), categories from the fitted encoders."""
    if not schema.get("columns"):
        shape = [d for d in schema.get("shape", []) if d not in (None, -1)]
        return rng.normal(size=[n] + shape).tolist() if shape else []
    stats, cats, _ = _fitted_stats(model)
    records: list[dict] = [{} for _ in range(n)]
    for col in schema["columns"]:
        cname, dtype = col["name"], str(col.get("dtype", "float64")).lower()
        seen = [r.get(cname) for r in sample if r.get(cname) is not None]
        if dtype.startswith(("float", "int", "uint")):
            if cname in stats:
                mu, sd = stats[cname]
            elif seen:
                arr = np.asarray(seen, dtype=float)
                mu, sd = float(arr.mean()), float(arr.std()) or max(1.0, abs(float(arr.mean())) * 0.1)
            else:
                mu, sd = 0.0, 1.0
            values = rng.normal(mu, sd, size=n)
            if dtype.startswith(("int", "uint")):
                values = np.round(values).astype(np.int64)
                if dtype.startswith("uint"):
                    values = np.abs(values)
            out = values.tolist()
        elif dtype.startswith("bool"):
            out = rng.integers(0, 2, size=n).astype(bool).tolist()
        else:
            choices = cats.get(cname) or col.get("categories") or sorted({str(v) for v in seen}) or ["a"]
            out = [choices[i] for i in rng.integers(0, len(choices), size=n)]
        if col.get("nullable"):  # some rows missing, so the ONNX check covers NaN handling too
            out = [None if rng.random() < 0.1 else v for v in out]
        for r, v in zip(records, out):
            r[cname] = v
    return records


def _requirements(mv, needs_pandas: bool, onnx: bool) -> list[str]:
    """Direct runtime libraries pinned to the training versions (else this machine's), plus
    their libraries' own dependencies pinned to this machine's versions where installed."""
    trained = {str(k).lower(): str(v) for k, v in (getattr(mv, "library_versions", None) or {}).items()}
    libs = ["numpy", "scipy", "scikit-learn", "skops"] + (["pandas"] if needs_pandas else []) \
        + (["onnxruntime"] if onnx else [])
    transitive = ["joblib", "threadpoolctl", "narwhals"] + (["protobuf", "flatbuffers"] if onnx else [])
    out = []
    for lib in libs + transitive:
        version = trained.get(lib) or trained.get(lib.replace("scikit-learn", "sklearn"))
        if not version:
            try:
                version = metadata.version(lib)
            except metadata.PackageNotFoundError:
                if lib in transitive:
                    continue
                raise BundleError(f"{lib} is not installed where the bundle is built, so it cannot be pinned; "
                                  f"install it (pip install {lib})") from None
        out.append(f"{lib}=={version}")
    return out


def _download_wheels(staging: Path, platform: str | None, python_minor: str) -> dict:
    house = staging / "wheelhouse"
    house.mkdir()
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
           "--only-binary=:all:", "-d", str(house), "-r", str(staging / "requirements.txt")]
    if platform:
        digits = python_minor.replace(".", "")
        cmd += ["--platform", platform, "--python-version", python_minor, "--implementation", "cp",
                "--abi", f"cp{digits}"]
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


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item")
                                 else (v.tolist() if hasattr(v, "tolist") else str(v))))
