"""A bundle's manifest: read it, check its format, check every file's sha256."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import BundleLoadError

MANIFEST = "manifest.json"
SUPPORTED_FORMATS = (1,)


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
