"""The registry's index in PostgreSQL (psycopg 3): the :class:`~jupyter_stratum.registry.ModelIndex`
methods, with versioned schema migrations (table ``stratum_schema``) and a per-model advisory lock
in place of SQLite's ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import RegistryError
from ..registry.index import JSON_FIELDS, VERSION_COLUMNS

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
}
SCHEMA_VERSION = max(MIGRATIONS)
#: pg_advisory_xact_lock key that serialises migrations of one database
_MIGRATION_LOCK = 0x5354524154554D  # "STRATUM"


class PostgresIndex:
    """A :class:`~jupyter_stratum.registry.ModelIndex` in a PostgreSQL database (``dsn``: a libpq URL).

    A connection per operation, as :class:`~jupyter_stratum.registry.SQLiteIndex` (safe across threads
    and forks); a pool is not worth it at the registry's request rates.
    """

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

    # -- model versions ------------------------------------------------------
    def add_version(self, name: str, build_row: Callable[[int], dict], publish: Callable[[dict], None]) -> dict:
        with self.transaction() as conn:
            # one writer per model name at a time; other names register in parallel
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 1))", (name,))
            latest = conn.execute(
                "SELECT COALESCE(MAX(version), 0) AS v FROM model_versions WHERE name = %s", (name,)
            ).fetchone()["v"]
            row = build_row(latest + 1)
            encoded = _encode(row)
            conn.execute(
                f"INSERT INTO model_versions ({', '.join(VERSION_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(VERSION_COLUMNS))})",
                [encoded[c] for c in VERSION_COLUMNS],
            )
            publish(row)
        return row

    def get_version(self, name: str, version: int | None) -> dict | None:
        with self.connect() as conn:
            if version is None:
                cur = conn.execute(
                    "SELECT * FROM model_versions WHERE name = %s ORDER BY version DESC LIMIT 1", (name,)
                )
            else:
                cur = conn.execute("SELECT * FROM model_versions WHERE name = %s AND version = %s", (name, version))
            return cur.fetchone()

    def versions(self, name: str) -> list[dict]:
        with self.connect() as conn:
            return conn.execute("SELECT * FROM model_versions WHERE name = %s ORDER BY version", (name,)).fetchall()

    def names(self) -> list[str]:
        with self.connect() as conn:
            rows = conn.execute("SELECT DISTINCT name FROM model_versions ORDER BY name").fetchall()
        return [r["name"] for r in rows]

    def latest_versions(self) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(
                """SELECT v.*, c.n_versions FROM model_versions v
                   JOIN (SELECT name, MAX(version) AS latest, COUNT(*) AS n_versions
                         FROM model_versions GROUP BY name) c
                     ON v.name = c.name AND v.version = c.latest
                   ORDER BY v.name"""
            ).fetchall()

    # -- deployments ---------------------------------------------------------
    def add_deployment(self, row: dict) -> int:
        with self.transaction() as conn:
            return conn.execute(
                "INSERT INTO deployments (model_name, model_version, created_at, updated_at, record) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (row["model_name"], row["model_version"], row["created_at"], row["created_at"], _json(row["record"])),
            ).fetchone()["id"]

    def update_deployment(self, deployment_id: int, record: dict, updated_at: str) -> None:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE deployments SET record = %s, updated_at = %s WHERE id = %s",
                (_json(record), updated_at, deployment_id),
            )
            if cur.rowcount != 1:
                raise RegistryError(
                    f"There is no deployment with id {deployment_id}; list them with list_deployments()."
                )

    def get_deployment(self, deployment_id: int) -> dict | None:
        with self.connect() as conn:
            found = conn.execute("SELECT * FROM deployments WHERE id = %s", (deployment_id,)).fetchone()
        return _decode_deployment(found) if found is not None else None

    def deployments(self, name: str | None) -> list[dict]:
        with self.connect() as conn:
            if name is None:
                rows = conn.execute("SELECT * FROM deployments ORDER BY id").fetchall()
            else:
                rows = conn.execute("SELECT * FROM deployments WHERE model_name = %s ORDER BY id", (name,)).fetchall()
        return [_decode_deployment(r) for r in rows]

    # -- aliases and events --------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, updated_at: str, updated_by: str, event: dict) -> None:
        with self.transaction() as conn:
            found = conn.execute(
                "SELECT version FROM aliases WHERE model_name = %s AND alias = %s FOR UPDATE", (name, alias)
            ).fetchone()
            conn.execute(
                "INSERT INTO aliases (model_name, alias, version, updated_at, updated_by) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (model_name, alias) DO UPDATE SET version = excluded.version, "
                "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (name, alias, version, updated_at, updated_by),
            )
            previous = found["version"] if found is not None else None
            _insert_event(conn, {**event, "details": {**event.get("details", {}), "previous": previous}})

    def delete_alias(self, name: str, alias: str, event: dict) -> int | None:
        with self.transaction() as conn:
            found = conn.execute(
                "DELETE FROM aliases WHERE model_name = %s AND alias = %s RETURNING version", (name, alias)
            ).fetchone()
            if found is None:
                return None
            _insert_event(conn, {**event, "version": found["version"]})
            return found["version"]

    def aliases(self, name: str) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(
                "SELECT model_name AS name, alias, version, updated_at, updated_by FROM aliases "
                "WHERE model_name = %s ORDER BY alias",
                (name,),
            ).fetchall()

    def add_event(self, event: dict) -> int:
        with self.transaction() as conn:
            return _insert_event(conn, event)

    def events(self, name: str, after_id: int = 0) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(
                "SELECT id, model_name AS name, kind, time, actor, version, details FROM events "
                "WHERE model_name = %s AND id > %s ORDER BY id",
                (name, after_id),
            ).fetchall()

    def integrity_check(self) -> str:
        with self.connect() as conn:
            conn.execute("SELECT 1")
        return "ok"


#: JSON columns that may be SQL NULL
_NULLABLE = ("classes", "sample", "reference")


def _json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    json.dumps(value, allow_nan=False)  # the same refusal of NaN as the SQLite index
    return Jsonb(value)


def _insert_event(conn: Any, event: dict) -> int:
    return conn.execute(
        "INSERT INTO events (model_name, kind, time, actor, version, details) VALUES (%s, %s, %s, %s, %s, %s) "
        "RETURNING id",
        (
            event["name"],
            event["kind"],
            event["time"],
            event["actor"],
            event.get("version"),
            _json(event.get("details") or {}),
        ),
    ).fetchone()["id"]


def _encode(row: dict) -> dict:
    out = dict(row)
    for key in JSON_FIELDS:
        out[key] = None if row.get(key) is None and key in _NULLABLE else _json(row.get(key))
    return out


def _decode_deployment(found: dict) -> dict[str, Any]:
    record = dict(found["record"])
    record.update(
        id=found["id"],
        model_name=found["model_name"],
        model_version=found["model_version"],
        created_at=found["created_at"],
        updated_at=found["updated_at"],
    )
    return record


def _without_password(dsn: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn
