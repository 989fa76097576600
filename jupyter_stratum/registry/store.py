"""Artifact storage. :class:`ArtifactStore` is the interface; :class:`LocalArtifactStore`
keeps files in a directory. An object store (fsspec URL) can implement the same methods."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@runtime_checkable
class ArtifactStore(Protocol):
    """Where artifact files live. Keys are relative, '/'-separated paths."""

    def staging(self, suffix: str) -> contextlib.AbstractContextManager[Path]:
        """A fresh local file path to write into; removed on exit unless published."""

    def publish(self, staged: Path, key: str) -> None:
        """Move a staged file to ``key`` atomically."""

    def remove(self, key: str) -> None:
        """Delete ``key`` if present (used to undo a publish)."""

    def exists(self, key: str) -> bool: ...

    def orphans(self, referenced: set[str], older_than_s: float) -> list[str]:
        """Keys of stored artifacts not in ``referenced`` and older than ``older_than_s``."""

    def local_path(self, key: str) -> Path:
        """A local file holding ``key``'s bytes (a remote store would download it)."""

    def key_for(self, name: str, version: int, suffix: str) -> str:
        """A key no other attempt uses (so undoing a failed publish never removes another's file)."""


class LocalArtifactStore:
    """Artifacts as files under ``root``: ``artifacts/<name>/v<version>-<token><suffix>``.

    Staged files are written inside ``root`` as well, so that publishing is a
    same-filesystem :func:`os.replace` (atomic).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.artifacts_dir = self.root / "artifacts"
        self.staging_dir = self.artifacts_dir / ".staging"
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        self._sweep_staging()

    def _sweep_staging(self, older_than_s: float = 24 * 3600) -> None:
        """Remove files left by processes that died while saving (never a live save's file)."""
        import time

        cutoff = time.time() - older_than_s
        for leftover in self.staging_dir.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    remove_path(leftover)

    def key_for(self, name: str, version: int, suffix: str) -> str:
        return f"artifacts/{name}/v{version}-{uuid.uuid4().hex[:12]}{suffix}"

    def staging(self, suffix: str) -> contextlib.AbstractContextManager[Path]:
        return staged_path(self.staging_dir, suffix)

    def publish(self, staged: Path, key: str) -> None:
        target = self.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        _fsync_dir(target.parent)

    def remove(self, key: str) -> None:
        remove_path(self.local_path(key))

    def exists(self, key: str) -> bool:
        return self.local_path(key).exists()

    def orphans(self, referenced: set[str], older_than_s: float) -> list[str]:
        import time

        cutoff = time.time() - older_than_s
        found = []
        for path in sorted(self.artifacts_dir.glob("*/*")):
            key = path.relative_to(self.root).as_posix()
            if path.parent == self.staging_dir or key in referenced:
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_mtime <= cutoff:
                    found.append(key)
        return found

    def local_path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"artifact key {key!r} points outside the registry root {self.root}")
        return path


@contextlib.contextmanager
def staged_path(directory: Path, suffix: str = "", prefix: str = "") -> Iterator[Path]:
    """A fresh path in ``directory`` for a file (or a directory) being written; whatever is still there
    on the way out (the write failed, or it was not moved into place) is removed."""
    path = Path(directory) / f"{prefix}{uuid.uuid4().hex}{suffix}"
    try:
        yield path
    finally:
        remove_path(path)


def write_into_place(target: Path, write: Callable[[Path], object]) -> Path:
    """``write(staged)`` on a hidden staged path beside ``target``, then rename it into place: a reader
    (another kernel, another process) never sees half a file, and a failed write leaves nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with staged_path(target.parent, prefix=".staged-") as staged:
        write(staged)
        os.replace(staged, target)
    return target


def remove_path(path: Path) -> None:
    """Remove a file or a directory (a flavor may save either); nothing there is fine."""
    if path.is_dir():  # a flavor may save a directory
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
