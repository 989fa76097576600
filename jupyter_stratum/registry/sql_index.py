"""The queries of the registry's index, written once for SQLite and PostgreSQL.

:class:`SQLIndex` holds every :class:`~jupyter_stratum.registry.ModelIndex` method and the rollout
records' reads and writes; a subclass says how to connect, how a transaction locks, and how a JSON
column is stored (SQLite: text; PostgreSQL: JSONB). Queries use ``?`` placeholders, turned into the
driver's own (``%s`` for psycopg) by :meth:`SQLIndex.sql`; both databases speak ``RETURNING``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import RegistryError

#: dict/list fields of a model version, stored as JSON
JSON_FIELDS = (
    "params",
    "cv_scores",
    "holdout_scores",
    "input_schema",
    "classes",
    "library_versions",
    "extra",
    "sample",
    "reference",
)
VERSION_COLUMNS = (
    "name",
    "version",
    "created_at",
    "author",
    "host",
    "flavor",
    "algorithm",
    "params",
    "task",
    "metric",
    "cv_score",
    "holdout_score",
    "cv_scores",
    "holdout_scores",
    "spec_yaml",
    "data_fingerprint",
    "input_schema",
    "classes",
    "library_versions",
    "duration_s",
    "artifact",
    "sha256",
    "extra",
    "sample",
    "reference",
)
#: JSON columns that may be SQL NULL
NULLABLE_JSON = ("classes", "sample", "reference")
#: tables of one JSON record per row (id, model_name, times, record)
RECORD_TABLES = ("deployments", "rollouts")


class SQLIndex:
    """The shared queries; subclasses give :meth:`connect`, :meth:`transaction` and the dialect hooks."""

    #: the driver's placeholder
    placeholder = "?"
    #: appended to the SELECT that reads an alias before moving it (row lock where the database has one)
    for_update = ""

    # -- what a subclass gives -----------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:  # pragma: no cover - every index has its own
        raise NotImplementedError
        yield

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:  # pragma: no cover - every index has its own
        raise NotImplementedError
        yield

    def dump_json(self, value: Any, *, strict: bool = True) -> Any:
        """A JSON column's stored form (``strict``: refuse NaN and infinities, as JSON does)."""
        raise NotImplementedError

    def load_json(self, stored: Any) -> Any:
        """A JSON column's value as read back."""
        raise NotImplementedError

    def lock_model(self, conn: Any, name: str) -> None:
        """Serialise writers of one model's versions (SQLite's ``BEGIN IMMEDIATE`` already does)."""

    # -- helpers -------------------------------------------------------------
    def sql(self, query: str) -> str:
        return query if self.placeholder == "?" else query.replace("?", self.placeholder)

    def run(self, conn: Any, query: str, params: tuple | list = ()) -> Any:
        return conn.execute(self.sql(query), params)

    def insert_returning_id(self, conn: Any, query: str, params: tuple | list, what: str) -> int:
        # fetchall: SQLite finishes an INSERT ... RETURNING only once its rows are all read
        found = next(iter(self.run(conn, query + " RETURNING id", params).fetchall()), None)
        if found is None:
            raise RegistryError(f"The registry index stored the {what} without giving its id.")
        return int(found["id"])

    def encode_version(self, row: dict) -> dict:
        out = dict(row)
        for key in JSON_FIELDS:
            value = row.get(key)
            out[key] = None if value is None and key in NULLABLE_JSON else self.dump_json(value)
        return out

    def decode_version(self, found: Any) -> dict[str, Any]:
        row = dict(found)
        for key in JSON_FIELDS:
            row[key] = self.load_json(row[key]) if row[key] is not None else None
        return row

    def decode_record(self, found: Any) -> dict[str, Any]:
        """A deployment row: its JSON record with the row's own columns on top."""
        row = dict(found)
        record = dict(self.load_json(row.pop("record")))
        record.update(row)
        return record

    # -- model versions ------------------------------------------------------
    def add_version(self, name: str, build_row: Callable[[int], dict], publish: Callable[[dict], None]) -> dict:
        with self.transaction() as conn:
            self.lock_model(conn, name)
            latest = self.run(
                conn, "SELECT COALESCE(MAX(version), 0) AS v FROM model_versions WHERE name = ?", (name,)
            ).fetchone()["v"]
            row = build_row(latest + 1)
            encoded = self.encode_version(row)
            self.run(
                conn,
                f"INSERT INTO model_versions ({', '.join(VERSION_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(VERSION_COLUMNS))})",
                [encoded[c] for c in VERSION_COLUMNS],
            )
            publish(row)
        return row

    def get_version(self, name: str, version: int | None) -> dict | None:
        with self.connect() as conn:
            if version is None:
                found = self.run(
                    conn, "SELECT * FROM model_versions WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
                ).fetchone()
            else:
                found = self.run(
                    conn, "SELECT * FROM model_versions WHERE name = ? AND version = ?", (name, version)
                ).fetchone()
        return self.decode_version(found) if found is not None else None

    def versions(self, name: str) -> list[dict]:
        with self.connect() as conn:
            rows = self.run(conn, "SELECT * FROM model_versions WHERE name = ? ORDER BY version", (name,)).fetchall()
        return [self.decode_version(r) for r in rows]

    def names(self) -> list[str]:
        with self.connect() as conn:
            rows = self.run(conn, "SELECT DISTINCT name FROM model_versions ORDER BY name").fetchall()
        return [r["name"] for r in rows]

    def latest_versions(self) -> list[dict]:
        with self.connect() as conn:
            rows = self.run(
                conn,
                """SELECT v.*, c.n_versions FROM model_versions v
                   JOIN (SELECT name, MAX(version) AS latest, COUNT(*) AS n_versions
                         FROM model_versions GROUP BY name) c
                     ON v.name = c.name AND v.version = c.latest
                   ORDER BY v.name""",
            ).fetchall()
        return [self.decode_version(r) for r in rows]

    # -- deployments ---------------------------------------------------------
    def add_deployment(self, row: dict) -> int:
        with self.transaction() as conn:
            return self.insert_returning_id(
                conn,
                "INSERT INTO deployments (model_name, model_version, created_at, updated_at, record) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    row["model_name"],
                    row["model_version"],
                    row["created_at"],
                    row["created_at"],
                    self.dump_json(row["record"], strict=False),
                ),
                "deployment record",
            )

    def update_deployment(self, deployment_id: int, record: dict, updated_at: str) -> None:
        with self.transaction() as conn:
            cur = self.run(
                conn,
                "UPDATE deployments SET record = ?, updated_at = ? WHERE id = ?",
                (self.dump_json(record, strict=False), updated_at, deployment_id),
            )
            if cur.rowcount != 1:
                raise RegistryError(
                    f"There is no deployment with id {deployment_id}; list them with list_deployments()."
                )

    def get_deployment(self, deployment_id: int) -> dict | None:
        return self.record_by_id("deployments", deployment_id)

    def deployments(self, name: str | None) -> list[dict]:
        return self.records_of("deployments", name)

    # -- record tables (deployments, rollouts): a JSON record per row -----------
    def record_by_id(self, table: str, record_id: int) -> dict | None:
        assert table in RECORD_TABLES, table
        with self.connect() as conn:
            found = self.run(conn, f"SELECT * FROM {table} WHERE id = ?", (record_id,)).fetchone()
        return self.decode_record(found) if found is not None else None

    def records_of(self, table: str, name: str | None) -> list[dict]:
        """The records of model ``name`` (every model's when None), oldest first."""
        assert table in RECORD_TABLES, table
        with self.connect() as conn:
            if name is None:
                rows = self.run(conn, f"SELECT * FROM {table} ORDER BY id").fetchall()
            else:
                rows = self.run(conn, f"SELECT * FROM {table} WHERE model_name = ? ORDER BY id", (name,)).fetchall()
        return [self.decode_record(r) for r in rows]

    # -- aliases and events --------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, updated_at: str, updated_by: str, event: dict) -> None:
        with self.transaction() as conn:
            found = self.run(
                conn,
                "SELECT version FROM aliases WHERE model_name = ? AND alias = ?" + self.for_update,
                (name, alias),
            ).fetchone()
            self.run(
                conn,
                "INSERT INTO aliases (model_name, alias, version, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (model_name, alias) DO UPDATE SET version = excluded.version, "
                "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (name, alias, version, updated_at, updated_by),
            )
            previous = found["version"] if found is not None else None
            self.insert_event(conn, {**event, "details": {**event.get("details", {}), "previous": previous}})

    def delete_alias(self, name: str, alias: str, event: dict) -> int | None:
        with self.transaction() as conn:
            deleted = self.run(
                conn, "DELETE FROM aliases WHERE model_name = ? AND alias = ? RETURNING version", (name, alias)
            ).fetchall()
            found = next(iter(deleted), None)
            if found is None:
                return None
            version = int(found["version"])
            self.insert_event(conn, {**event, "version": version})
            return version

    def aliases(self, name: str) -> list[dict]:
        with self.connect() as conn:
            rows = self.run(
                conn,
                "SELECT model_name AS name, alias, version, updated_at, updated_by FROM aliases "
                "WHERE model_name = ? ORDER BY alias",
                (name,),
            ).fetchall()
        return [dict(r) for r in rows]

    def add_event(self, event: dict) -> int:
        with self.transaction() as conn:
            return self.insert_event(conn, event)

    def insert_event(self, conn: Any, event: dict) -> int:
        """Append an event inside the caller's transaction."""
        return self.insert_returning_id(
            conn,
            "INSERT INTO events (model_name, kind, time, actor, version, details) VALUES (?, ?, ?, ?, ?, ?)",
            (
                event["name"],
                event["kind"],
                event["time"],
                event["actor"],
                event.get("version"),
                self.dump_json(event.get("details") or {}),
            ),
            "event",
        )

    def events(self, name: str, after_id: int = 0) -> list[dict]:
        with self.connect() as conn:
            rows = self.run(
                conn,
                "SELECT id, model_name AS name, kind, time, actor, version, details FROM events "
                "WHERE model_name = ? AND id > ? ORDER BY id",
                (name, after_id),
            ).fetchall()
        return [{**dict(r), "details": self.load_json(r["details"])} for r in rows]

    # -- rollouts (jupyter_stratum.registry.rollout) --------------------------
    def add_rollout(self, name: str, state: str, now: str, record: dict) -> int:
        with self.transaction() as conn:
            return self.insert_returning_id(
                conn,
                "INSERT INTO rollouts (model_name, state, created_at, updated_at, record) VALUES (?, ?, ?, ?, ?)",
                (name, state, now, now, self.dump_json(record, strict=False)),
                "rollout",
            )

    def update_rollout(self, rollout_id: int, state: str, now: str, record: dict) -> tuple[str, str]:
        """Replace a rollout's record; a stored ``aborting`` wins over ``running`` (an abort asked meanwhile),
        with the abort's reason. Returns the state and reason written."""
        with self.transaction() as conn:
            stored = self.run(conn, "SELECT state, record FROM rollouts WHERE id = ?" + self.for_update, (rollout_id,))
            found = stored.fetchone()
            if found is not None and found["state"] == "aborting" and state == "running":
                state = "aborting"
                record = {**record, "reason": record.get("reason") or self.load_json(found["record"]).get("reason", "")}
            record = {**record, "state": state}
            cur = self.run(
                conn,
                "UPDATE rollouts SET state = ?, updated_at = ?, record = ? WHERE id = ?",
                (state, now, self.dump_json(record, strict=False), rollout_id),
            )
            if cur.rowcount != 1:
                raise RegistryError(f"There is no rollout #{rollout_id}; list them with `stratum rollout status`.")
        return state, str(record.get("reason") or "")

    def set_rollout_state(self, rollout_id: int, state: str, reason: str, now: str) -> None:
        with self.transaction() as conn:
            found = self.run(conn, "SELECT record FROM rollouts WHERE id = ?" + self.for_update, (rollout_id,))
            row = found.fetchone()
            if row is None:
                raise RegistryError(f"There is no rollout #{rollout_id}.")
            record = dict(self.load_json(row["record"]))
            record["state"] = state
            if reason:
                record["reason"] = reason
            self.run(
                conn,
                "UPDATE rollouts SET state = ?, updated_at = ?, record = ? WHERE id = ?",
                (state, now, self.dump_json(record, strict=False), rollout_id),
            )

    def get_rollout(self, rollout_id: int) -> dict | None:
        return self.record_by_id("rollouts", rollout_id)

    def rollouts(self, name: str | None) -> list[dict]:
        return self.records_of("rollouts", name)

    def rollout_state(self, rollout_id: int) -> str:
        with self.connect() as conn:
            found = self.run(conn, "SELECT state FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
        return str(found["state"]) if found is not None else ""
