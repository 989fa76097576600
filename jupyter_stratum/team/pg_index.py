"""The registry's index in PostgreSQL (psycopg 3): the :class:`~jupyter_stratum.registry.ModelIndex`
methods, with versioned schema migrations (table ``stratum_schema``) and a per-model advisory lock
in place of SQLite's ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from ..errors import RegistryError
from ..registry.sql_index import SQLIndex

_VERSIONS = """
CREATE TABLE model_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    created_at TEXT NOT NULL,
    author TEXT NOT NULL,
    host TEXT NOT NULL,
    flavor TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    params JSONB NOT NULL,
    task TEXT,
    metric TEXT,
    cv_score DOUBLE PRECISION,
    holdout_score DOUBLE PRECISION,
    cv_scores JSONB NOT NULL,
    holdout_scores JSONB NOT NULL,
    spec_yaml TEXT NOT NULL,
    data_fingerprint TEXT NOT NULL,
    input_schema JSONB NOT NULL,
    classes JSONB,
    library_versions JSONB NOT NULL,
    duration_s DOUBLE PRECISION NOT NULL,
    artifact TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    extra JSONB NOT NULL,
    sample JSONB,
    reference JSONB,
    PRIMARY KEY (name, version)
);
CREATE TABLE deployments (
    id BIGSERIAL PRIMARY KEY,
    model_name TEXT NOT NULL,
    model_version INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record JSONB NOT NULL
);
CREATE INDEX deployments_by_model ON deployments (model_name, id);
CREATE TABLE aliases (
    model_name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (model_name, alias)
);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    model_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    version INTEGER,
    details JSONB NOT NULL
);
CREATE INDEX events_by_model ON events (model_name, id);
"""
#: schema N: the statements that take schema N-1 to N, run in one transaction (PostgreSQL's DDL is transactional)
MIGRATIONS: dict[int, list[str]] = {
    1: [s for s in _VERSIONS.split(";") if s.strip()],
    # 2: rollout records (jupyter_stratum.registry.rollout), as in the SQLite index's schema 4
    2: [
        "CREATE TABLE rollouts (id BIGSERIAL PRIMARY KEY, model_name TEXT NOT NULL, state TEXT NOT NULL, "
        "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, record JSONB NOT NULL)",
        "CREATE INDEX rollouts_by_model ON rollouts (model_name, id)",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)
#: pg_advisory_xact_lock key that serialises migrations of one database
_MIGRATION_LOCK = 0x5354524154554D  # "STRATUM"


class PostgresIndex(SQLIndex):
    """A :class:`~jupyter_stratum.registry.ModelIndex` in a PostgreSQL database (``dsn``: a libpq URL).

    A connection per operation, as :class:`~jupyter_stratum.registry.SQLiteIndex` (safe across threads
    and forks); a pool is not worth it at the registry's request rates.
    """

    placeholder = "%s"
    for_update = " FOR UPDATE"

    def __init__(self, dsn: str, connect_timeout_s: int = 10):
        self.dsn = dsn
        self.connect_timeout_s = connect_timeout_s
        self.migrate()

    def __repr__(self) -> str:
        return f"PostgresIndex({_without_password(self.dsn)!r})"

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        import psycopg
        from psycopg.rows import dict_row

        try:
            conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout_s, row_factory=dict_row)
        except psycopg.OperationalError as exc:
            raise RegistryError(
                f"Cannot connect to the registry database {_without_password(self.dsn)}: {exc}. "
                "Check that PostgreSQL runs there and STRATUM_REGISTRY_DSN is right."
            ) from exc
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connect() as conn, conn.transaction():
            yield conn

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; return the version found before."""
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS stratum_schema (version INTEGER NOT NULL, applied_at TEXT)")
            found = conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM stratum_schema").fetchone()["v"]
            if found > SCHEMA_VERSION:
                raise RegistryError(
                    f"The registry database was written by a newer jupyter-stratum (schema {found}, this one "
                    f"knows {SCHEMA_VERSION}): upgrade jupyter-stratum."
                )
            for step in range(found + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
                conn.execute("INSERT INTO stratum_schema (version, applied_at) VALUES (%s, now()::text)", (step,))
        return found

    def lock_model(self, conn: Any, name: str) -> None:
        # one writer per model name at a time; other names register in parallel
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (name,))

    # -- JSON columns: JSONB (psycopg decodes them on read) -------------------
    def dump_json(self, value: Any, *, strict: bool = True) -> Any:
        from psycopg.types.json import Jsonb

        json.dumps(value, allow_nan=False)  # PostgreSQL's JSON has no NaN either way
        return Jsonb(value)

    def load_json(self, stored: Any) -> Any:
        return stored

    def integrity_check(self) -> str:
        with self.connect() as conn:
            conn.execute("SELECT 1")
        return "ok"


def _without_password(dsn: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn
