"""Artifacts at an fsspec URL (a shared directory by default, ``s3://bucket/prefix`` through s3fs):
the :class:`~jupyter_stratum.registry.ArtifactStore` methods.

Publishing uploads to a hidden ``.partial`` key first and then moves it to its final key, so a
process killed mid-upload never leaves a file under a key a version could name; the index row is
committed only after the move (:meth:`Registry.register`), so a killed upload leaves no version.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import RegistryError
from ..registry.store import remove_path, staged_path, write_into_place


class FsspecArtifactStore:
    """Artifacts under ``url`` (``/srv/stratum/artifacts``, ``file:///…``, ``s3://bucket/prefix``);
    ``cache`` is the local directory staged and downloaded files live in."""

    def __init__(self, url: str, cache: Path, **storage_options: Any):
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.url, **storage_options)
        self.base = self.base.rstrip("/")
        self.local = "file" in _protocols(self.fs)
        self.cache = Path(cache)
        self.staging_dir = self.cache / "staging"
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        if self.local:
            self.fs.makedirs(self.base, exist_ok=True)

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.url!r})"

    def _path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"artifact key {key!r} points outside the store {self.url}")
        return f"{self.base}/{key}"

    def key_for(self, name: str, version: int, suffix: str) -> str:
        return f"artifacts/{name}/v{version}-{uuid.uuid4().hex[:12]}{suffix}"

    def staging(self, suffix: str) -> contextlib.AbstractContextManager[Path]:
        return staged_path(self.staging_dir, suffix)

    def publish(self, staged: Path, key: str) -> None:
        target = self._path(key)
        parent = target.rsplit("/", 1)[0]
        partial = f"{parent}/.partial-{uuid.uuid4().hex}"
        if self.local:
            self.fs.makedirs(parent, exist_ok=True)
        try:
            self.fs.put(str(staged), partial, recursive=staged.is_dir())
            self.fs.mv(partial, target, recursive=staged.is_dir())
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm(partial, recursive=True)
            raise

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._path(key), recursive=True)
        remove_path(self._cached(key))

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def orphans(self, referenced: set[str], older_than_s: float) -> list[str]:
        """Unreferenced artifacts and leftover ``.partial`` uploads older than ``older_than_s``."""
        cutoff = time.time() - older_than_s
        found = []
        root = f"{self.base}/artifacts"
        if not self.fs.exists(root):
            return []
        for model_dir in self.fs.ls(root, detail=False):
            for path in self.fs.ls(model_dir, detail=False):
                key = path[len(self.base) + 1 :] if path.startswith(self.base) else path.split(self.base + "/", 1)[-1]
                if key in referenced:
                    continue
                try:
                    modified = self.fs.modified(path).timestamp()
                except (NotImplementedError, OSError):
                    modified = 0.0
                if modified <= cutoff:
                    found.append(key)
        return sorted(found)

    def _cached(self, key: str) -> Path:
        return (
            self.cache
            / "downloads"
            / hashlib.sha256(f"{self.url}/{key}".encode()).hexdigest()[:24]
            / key.rsplit("/", 1)[-1]
        )

    def local_path(self, key: str) -> Path:
        """The file itself for a local directory; else a download into the cache (kept, since keys never change)."""
        path = self._path(key)
        if self.local:
            return Path(path)
        cached = self._cached(key)
        if not cached.exists():
            try:
                write_into_place(cached, lambda staged: self.fs.get(path, str(staged), recursive=self.fs.isdir(path)))
            except FileNotFoundError as exc:
                raise RegistryError(f"The artifact {key} is missing from {self.url}.") from exc
        return cached


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
