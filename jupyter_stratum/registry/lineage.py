"""Filling in a model version's lineage: defaults for author, host and library versions,
unknown keys moved to ``extra``, values made JSON-safe."""

from __future__ import annotations

import getpass
import platform
import socket
import sys
from importlib import metadata
from typing import Any

from ..errors import RegistryError
from ..jsonsafe import to_jsonable
from .model_version import SYSTEM_FIELDS, fields_of_record

_LIBRARIES = {"scikit-learn": "scikit-learn", "numpy": "numpy", "pandas": "pandas", "skops": "skops"}


def library_versions() -> dict[str, str]:
    """Versions of python and the libraries a model depends on (without importing them)."""
    versions = {"python": platform.python_version()}
    for key, dist in _LIBRARIES.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "tensorflow" in sys.modules:  # only when already imported: never import TF here
        versions["tensorflow"] = getattr(sys.modules["tensorflow"], "__version__", "unknown")
    return versions


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers without passwd entry)  # noqa: BLE001
        return "unknown"


def default_algorithm(model: Any) -> str:
    """Class name of the estimator (the last step of a Pipeline)."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and isinstance(steps[-1], tuple):
        return type(steps[-1][-1]).__name__
    return type(model).__name__


def build_lineage(model: Any, lineage: dict | None) -> dict[str, Any]:
    """Return the stored lineage fields (everything but name/version/created_at/artifact/sha256/flavor)."""
    if lineage is not None and not isinstance(lineage, dict):
        raise RegistryError(
            f"lineage must be a dict of ModelVersion fields, got {type(lineage).__name__}. Nothing was registered."
        )
    lineage = dict(lineage or {})
    known = {f.name for f in fields_of_record()} - SYSTEM_FIELDS
    extra = dict(lineage.pop("extra", None) or {})
    out: dict[str, Any] = {}
    for key, value in lineage.items():
        if key in known:
            out[key] = value
        else:
            extra[key] = value
    out["extra"] = extra
    out["author"] = out.get("author") or current_user()
    out["host"] = out.get("host") or socket.gethostname()
    out["library_versions"] = out.get("library_versions") or library_versions()
    out["algorithm"] = out.get("algorithm") or default_algorithm(model)
    for key in ("params", "cv_scores", "holdout_scores", "input_schema"):
        out[key] = out.get(key) or {}
    out.setdefault("task", None)
    out.setdefault("metric", None)
    out["spec_yaml"] = out.get("spec_yaml") or ""
    out["data_fingerprint"] = out.get("data_fingerprint") or ""
    out = to_jsonable(out)
    if out.get("classes") is not None and not isinstance(out["classes"], list):
        out["classes"] = [out["classes"]]
    out.setdefault("classes", None)
    for key in ("params", "cv_scores", "holdout_scores", "input_schema", "library_versions", "extra"):
        if not isinstance(out[key], dict):
            raise RegistryError(
                f"lineage[{key!r}] must be a dict, got {type(out[key]).__name__}. Nothing was registered."
            )
    metric = out["metric"]
    # the selection metric's scores, taken from the per-metric dicts when not given
    if out.get("cv_score") is None and metric and isinstance(out["cv_scores"].get(metric), dict):
        out["cv_score"] = out["cv_scores"][metric].get("mean")
    if out.get("holdout_score") is None and metric and metric in out["holdout_scores"]:
        out["holdout_score"] = out["holdout_scores"][metric]
    for key in ("cv_score", "holdout_score", "duration_s"):
        if out.get(key) is not None:
            try:
                out[key] = float(out[key])
            except (TypeError, ValueError):
                raise RegistryError(
                    f"lineage[{key!r}] must be a number, got {out[key]!r}. Nothing was registered."
                ) from None
        else:
            out[key] = 0.0 if key == "duration_s" else None
    return out
