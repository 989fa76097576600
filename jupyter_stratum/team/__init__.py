"""Team mode: one registry shared by a team, its index in PostgreSQL (:mod:`.pg_index`) and its
artifacts at an fsspec URL (:mod:`.fsspec_store`), behind the same :class:`~jupyter_stratum.registry.Registry`.

``open_registry()`` picks it when ``STRATUM_REGISTRY_DSN`` is set (a libpq URL, e.g. in the hub's
spawner environment); ``STRATUM_ARTIFACTS_URL`` says where artifacts live (default: ``artifacts``
under ``$STRATUM_HOME``). Without them the embedded SQLite registry stays the default.
"""

from __future__ import annotations

import os
from pathlib import Path

DSN_ENV = "STRATUM_REGISTRY_DSN"
ARTIFACTS_ENV = "STRATUM_ARTIFACTS_URL"


def open_team_registry(dsn: str, artifacts_url: str | None = None, cache: str | os.PathLike | None = None):
    """A :class:`~jupyter_stratum.registry.Registry` with its index in PostgreSQL at ``dsn`` and its
    artifacts at ``artifacts_url``; ``cache`` (default ``$STRATUM_HOME``) holds staged and downloaded files."""
    from ..registry.registry import Registry, default_root
    from .fsspec_store import FsspecArtifactStore
    from .pg_index import PostgresIndex

    root = Path(cache) if cache is not None else default_root()
    url = artifacts_url or os.environ.get(ARTIFACTS_ENV, "").strip() or str(root / "shared")
    return Registry(root, index=PostgresIndex(dsn), store=FsspecArtifactStore(url, cache=root / "cache"))
