"""The registry's index. :class:`ModelIndex` is the interface; :class:`SQLiteIndex`
is the embedded default (WAL mode, one file); its queries, shared with the PostgreSQL index
(jupyter_stratum/team/pg_index.py), are in :mod:`.sql_index`."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import RegistryError
from .sql_index import JSON_FIELDS, VERSION_COLUMNS, SQLIndex

__all__ = ["JSON_FIELDS", "VERSION_COLUMNS", "ModelIndex", "SQLiteIndex"]

SCHEMA_VERSION = 4
#: aliases (name@champion -> a version) and the append-only event log of each model
ALIASES_AND_EVENTS = """
CREATE TABLE IF NOT EXISTS aliases (
    model_name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (model_name, alias)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    version INTEGER,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_model ON events (model_name, id);
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    created_at TEXT NOT NULL,
    author TEXT NOT NULL,
    host TEXT NOT NULL,
    flavor TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    params TEXT NOT NULL,
    task TEXT,
    metric TEXT,
    cv_score REAL,
    holdout_score REAL,
    cv_scores TEXT NOT NULL,
    holdout_scores TEXT NOT NULL,
    spec_yaml TEXT NOT NULL,
    data_fingerprint TEXT NOT NULL,
    input_schema TEXT NOT NULL,
    classes TEXT,
    library_versions TEXT NOT NULL,
    duration_s REAL NOT NULL,
    artifact TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    extra TEXT NOT NULL,
    sample TEXT,
    reference TEXT,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    model_version INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_by_model ON deployments (model_name, id);
CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollouts_by_model ON rollouts (model_name, id);
"""
SCHEMA += ALIASES_AND_EVENTS
#: from schema N-1 to N: statements run in one transaction when an older registry is opened
MIGRATIONS = {
    # 2: the training sample (a few holdout rows and the model's own answers, which bundles check
    # the runtime against) gets a typed column instead of riding in ``extra``
    2: [
        "ALTER TABLE model_versions ADD COLUMN sample TEXT",
        "UPDATE model_versions SET sample = json_extract(extra, '$.sample'), extra = json_remove(extra, '$.sample')",
    ],
    # 3: aliases, the event log, and the reference statistics drift detection compares served rows with
    3: [
        "ALTER TABLE model_versions ADD COLUMN reference TEXT",
        *filter(str.strip, ALIASES_AND_EVENTS.split(";")),
    ],
    # 4: a rollout (waves of hosts, each host's state) is a record of its own, updated as it goes
    # (jupyter_stratum.registry.rollout reads and writes it)
    4: [
        "CREATE TABLE IF NOT EXISTS rollouts (id INTEGER PRIMARY KEY AUTOINCREMENT, model_name TEXT NOT NULL, "
        "state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, record TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS rollouts_by_model ON rollouts (model_name, id)",
    ],
}


@runtime_checkable
class ModelIndex(Protocol):
    """Where model-version records and deployment records are kept.

    Rows are plain dicts whose keys are :data:`VERSION_COLUMNS` (JSON fields already decoded).
    """

    def add_version(self, name: str, build_row: Callable[[int], dict], publish: Callable[[dict], None]) -> dict:
        """In one transaction: version = max + 1, insert ``build_row(version)``, call
        ``publish(row)`` (moves the artifact into place), commit. Any exception rolls back."""

    def get_version(self, name: str, version: int | None) -> dict | None: ...

    def versions(self, name: str) -> list[dict]: ...

    def names(self) -> list[str]: ...

    def latest_versions(self) -> list[dict]:
        """The latest row of every name, each with an extra ``n_versions`` key."""

    def add_deployment(self, row: dict) -> int: ...

    def update_deployment(self, deployment_id: int, record: dict, updated_at: str) -> None: ...

    def get_deployment(self, deployment_id: int) -> dict | None: ...

    def deployments(self, name: str | None) -> list[dict]: ...

    def set_alias(self, name: str, alias: str, version: int, updated_at: str, updated_by: str, event: dict) -> None:
        """Point ``name@alias`` at ``version`` and append ``event`` (a row for :meth:`add_event`, whose
        ``details`` get ``previous``: the version it pointed at, or None) in one transaction."""

    def delete_alias(self, name: str, alias: str, event: dict) -> int | None:
        """Remove ``name@alias`` and append ``event`` in one transaction; the version it pointed at, or None."""

    def aliases(self, name: str) -> list[dict]:
        """Rows ``name, alias, version, updated_at, updated_by`` of one model, by alias."""

    def add_event(self, event: dict) -> int:
        """Append ``{name, kind, time, actor, version, details}``; return its id."""

    def events(self, name: str, after_id: int = 0) -> list[dict]:
        """Events of ``name`` with id > ``after_id``, oldest first."""


class SQLiteIndex(SQLIndex):
    """SQLite file index. A connection per operation: safe across threads and forks."""

    def __init__(self, path: Path, busy_timeout_s: float = 60.0):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._create_schema()

    # -- connections ---------------------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(
                f"Cannot open the registry index {self.path}: {exc}. Check that the directory "
                "exists and is writable, or point STRATUM_HOME at another directory."
            ) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: takes the write lock up front, so two writers queue
        (busy_timeout) instead of failing with a deadlock on upgrade."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _create_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                with self.connect() as conn:
                    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        conn.execute("PRAGMA journal_mode = WAL")
                    current = conn.execute("PRAGMA user_version").fetchone()[0]
                    if current > SCHEMA_VERSION:
                        raise RegistryError(
                            f"The registry at {self.path.parent} was written by a newer jupyter-stratum "
                            f"(schema {current}, this one knows {SCHEMA_VERSION}): upgrade jupyter-stratum."
                        )
                    if current < SCHEMA_VERSION:
                        conn.execute("BEGIN IMMEDIATE")
                        try:
                            if current == 0:  # a new registry
                                for statement in filter(str.strip, SCHEMA.split(";")):
                                    conn.execute(statement)
                            else:
                                for step in range(current + 1, SCHEMA_VERSION + 1):
                                    for statement in MIGRATIONS[step]:
                                        conn.execute(statement)
                            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                        except BaseException:
                            conn.execute("ROLLBACK")
                            raise
                        conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:  # e.g. WAL switch while another process holds a lock
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise RegistryError(
                        f"Cannot prepare the registry index {self.path}: {exc}. "
                        "Another process may hold it locked; try again."
                    ) from exc
                time.sleep(0.05)

    # -- JSON columns: text ----------------------------------------------------
    def dump_json(self, value: Any, *, strict: bool = True) -> Any:
        return json.dumps(value, allow_nan=False, sort_keys=True) if strict else json.dumps(value)

    def load_json(self, stored: Any) -> Any:
        return json.loads(stored)

    def integrity_check(self) -> str:
        with self.connect() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
