"""Bundle a registered inference pipeline: every pinned model, the graph and the runtime, in one directory.

Layout::

    manifest.json        kind "pipeline"; model.members: pinned ref -> its bundle directory
    pipeline.json        the checked graph (models by pinned NAME@VERSION)
    steps/MODULE.py      the source of each step function's module (never a pickle)
    models/NAME-V/       each model's own bundle (its ONNX copy where it is exact), as ``stratum bundle`` writes it
    runtime/stratum_serve/
    requirements.txt     the union of the models' requirements

The runtime serves it as one OIP model (:mod:`..serve.pipeline_runtime`). The sample rows are the input
model's holdout sample; their expected outputs come from running the staged bundle, and the bundle is
loaded once more, verified, as an edge host loads it.
"""

from __future__ import annotations

import json
import os
import platform as _platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..jsonsafe import to_jsonable
from . import templates
from .builder import (
    FORMAT_VERSION,
    RUNTIME_PACKAGE,
    Bundle,
    _registry_sample,
    _serve_version,
    copy_runtime,
    stage_bundle,
    write_bundle,
)
from .requirements import download_wheels, with_grpc

GRAPH = "pipeline.json"
STEPS = "steps"  # the step functions' modules, as source


def write_pipeline_bundle(
    registry: Any,
    mv: Any,
    out_dir: str | os.PathLike | None,
    *,
    wheelhouse: bool = False,
    platform: str | None = None,
    force: bool = False,
    tarball: bool = True,
    grpc: bool = False,
) -> Bundle:
    """Bundle pipeline version ``mv`` (flavor ``pipeline``) and every model version it pins (``grpc``: pin
    grpcio and protobuf too, for a runtime started with ``--grpc-port``)."""
    graph = mv.load()
    pinned = dict((mv.extra.get("pipeline") or {}).get("models") or {})
    if not pinned:
        raise BundleError(f"{mv.ref} pins no model versions; register the pipeline again with `stratum pipeline`")
    return stage_bundle(
        out_dir,
        f"{mv.name}-{mv.version}",
        lambda staging: _build(staging, registry, mv, graph, pinned, wheelhouse, platform, grpc),
        force=force,
        tarball=tarball,
    )


def _build(
    staging: Path,
    registry: Any,
    mv: Any,
    graph: dict,
    pinned: dict[str, str],
    wheelhouse: bool,
    platform: str | None,
    grpc: bool,
) -> dict:
    from ..serve.manifest import sha256_file
    from ..serve.model_loader import load_bundle

    members: dict[str, str] = {}
    requirements: list[str] = []
    copies = []
    for ref in dict.fromkeys(pinned.values()):
        member = registry.get(ref)
        rel = f"models/{member.name}-{member.version}"
        part = write_bundle(member, member.load(), staging / rel, tarball=False)
        members[ref] = rel
        requirements += [r for r in part.manifest["requirements"] if r not in requirements]
        copy = part.manifest.get("onnx") or part.manifest.get("tflite") or {}
        copies.append((ref, bool(copy.get("available")), copy.get("reason", "")))
    if grpc:  # the runtime's --grpc-port
        requirements = with_grpc(requirements)
    sources = dict(graph.get("modules") or {})  # step functions' modules: shipped as source files
    for module, source in sources.items():
        (staging / STEPS).mkdir(exist_ok=True)
        (staging / STEPS / f"{module}.py").write_text(source, encoding="utf-8")
    graph = {**graph, "modules": sorted(sources)} if sources else graph
    (staging / GRAPH).write_text(json.dumps(graph, indent=2))
    copy_runtime(staging)
    (staging / "requirements.txt").write_text(
        f"# {mv.ref}: the models' requirements, pinned to their training versions\n" + "\n".join(requirements) + "\n"
    )
    exact = [ref for ref, ok, _ in copies if ok]
    pipeline = mv.extra.get("pipeline") or {}
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": "pipeline",
        "name": str(mv.name),
        "version": str(mv.version),
        "flavor": "pipeline",
        "task": mv.task,
        "input_schema": dict(mv.input_schema or {}),
        "classes": to_jsonable(mv.classes),
        "model": {"graph": GRAPH, "members": members, "has_proba": bool(pipeline.get("has_proba"))},
        "onnx": {
            "available": len(exact) == len(copies),
            "reason": f"{len(exact)} of {len(copies)} models have an exact ONNX copy"
            + "".join(f"; {ref}: {why}" for ref, ok, why in copies if not ok),
        },
        "files": {},
        "requirements": requirements,
        "python": ".".join(str((mv.library_versions or {}).get("python") or _platform.python_version()).split(".")[:2]),
        "algorithm": "pipeline",
        "params": {"models": pinned},
        "reference": None,
        "source": {"ref": mv.ref, "sha256": mv.sha256, "created_at": mv.created_at, "models": pinned},
        "runtime": {
            "package": RUNTIME_PACKAGE,
            "version": _serve_version(),
            "start": f"PYTHONPATH=<bundle>/runtime python -m {RUNTIME_PACKAGE} <bundle> --port 8500",
        },
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wheelhouse": None,
    }
    # expected outputs of the sample rows, from the staged pipeline as the runtime runs it
    records = _registry_sample(mv)
    if records:
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        try:
            served = load_bundle(staging, backend="auto", verify=False, threads=0)
            batch, n = served.schema.from_records(records)
            labels, proba = served.predict(batch, n)
        except Exception as exc:  # noqa: BLE001 - any failure: the bundle cannot serve
            raise BundleError(
                f"the bundle of {mv.ref} cannot run its own sample rows: {type(exc).__name__}: {exc}"
            ) from None
        manifest["sample"] = {"records": records, "expected": to_jsonable(labels), "source": "holdout"}
        if proba is not None:
            manifest["sample"]["probabilities"] = to_jsonable(proba)
    if wheelhouse:  # the wheels of every model's requirements, for an offline host
        manifest["wheelhouse"] = download_wheels(staging, requirements, platform, manifest["python"])
    (staging / "README.md").write_text(templates.readme(manifest))
    python = manifest["python"]
    (staging / "Dockerfile").write_text(
        templates.DOCKERFILE.format(
            name=mv.name, version=mv.version, python=python, image=f"{str(mv.name).lower()}:{mv.version}"
        )
    )
    top = staging / "manifest.json"
    manifest["files"] = {
        p.relative_to(staging).as_posix(): sha256_file(p)
        for p in sorted(staging.rglob("*"))
        if p.is_file() and p != top and "__pycache__" not in p.parts
    }
    top.write_text(json.dumps(manifest, indent=2))
    load_bundle(staging, backend="auto", verify=True, threads=0)  # as the edge host will load it
    return manifest
