"""Aliases (``churn@champion``), the event log, and the schema-3 migration of an older registry."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jupyter_stratum
from jupyter_stratum.errors import RegistryError
from jupyter_stratum.registry import open_registry, split_ref
from jupyter_stratum.registry.index import SCHEMA_VERSION

BIN = Path(sys.executable).parent


def test_refs_parse_versions_and_aliases():
    assert split_ref("churn@3").version == 3 and split_ref("churn@3").alias is None
    assert split_ref("churn@champion").alias == "champion" and split_ref("churn@champion").version is None
    assert split_ref("churn@latest") == split_ref("churn")
    for bad in ("churn@0", "churn@-1", "churn@9lives", "churn@a b"):
        with pytest.raises(RegistryError, match="after '@'"):
            split_ref(bad)


def test_set_move_delete_alias_and_load(registry, fitted_pipeline, breast_cancer):
    X, _ = breast_cancer
    registry.register("churn", fitted_pipeline, lineage={})
    registry.register("churn", fitted_pipeline[-1:].__class__(fitted_pipeline.steps[:]), lineage={})
    with pytest.raises(RegistryError, match=r"no alias 'champion'.*stratum alias churn@VERSION champion"):
        registry.get("churn@champion")
    registry.set_alias("churn", "champion", 1, actor="ops")
    assert registry.get("churn@champion").version == 1
    np.testing.assert_array_equal(jupyter_stratum.load("churn@champion").predict(X), fitted_pipeline.predict(X))
    registry.set_alias("churn", "champion", 2, reason="better holdout")
    registry.set_alias("churn", "challenger", 1)
    assert [(a.alias, a.version) for a in registry.aliases("churn")] == [("challenger", 1), ("champion", 2)]
    assert registry.delete_alias("churn", "challenger") == 1
    with pytest.raises(RegistryError, match="no alias 'challenger'"):
        registry.delete_alias("churn", "challenger")
    with pytest.raises(RegistryError, match="no version 7"):
        registry.set_alias("churn", "champion", 7)
    for bad in ("latest", "3", "-x", ""):
        with pytest.raises(RegistryError, match="not a valid alias"):
            registry.set_alias("churn", bad, 1)

    events = registry.events("churn")
    assert [(e.kind, e.version) for e in events] == [
        ("registered", 1),
        ("registered", 2),
        ("alias_set", 1),
        ("alias_moved", 2),
        ("alias_set", 1),
        ("alias_deleted", 1),
    ]
    assert events[2].actor == "ops" and events[2].details == {"alias": "champion", "previous": None}
    assert events[3].details == {"alias": "champion", "previous": 1, "reason": "better holdout"}
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert registry.events("churn", after_id=events[3].id, kinds=("alias_deleted",)) == events[5:]
    # another registry object (another process) reads the same log
    assert open_registry(registry.root).events("churn@champion") == events


def test_events_are_typed_redacted_and_validated(registry, fitted_pipeline):
    registry.register("churn", fitted_pipeline, lineage={})
    event = registry.add_event(
        "churn", "drift_detected", version=1, details={"features": ["age"], "score": np.float64(0.4), "token": "s3"}
    )
    assert event.details == {"features": ["age"], "score": 0.4, "token": "<redacted>"}
    assert registry.events("churn")[-1] == event
    with pytest.raises(RegistryError, match="not a valid event kind"):
        registry.add_event("churn", "Drift Detected")


def test_cli_alias_and_events(stratum_home, fitted_pipeline):
    reg = open_registry()
    reg.register("churn", fitted_pipeline, lineage={})
    reg.register("churn", fitted_pipeline, lineage={})

    def cli(*args):
        return subprocess.run([str(BIN / "stratum"), *args], capture_output=True, text=True, timeout=120)

    out = cli("alias", "churn@2", "champion", "--reason", "first")
    assert out.returncode == 0, out.stderr
    assert "churn@champion -> version 2" in out.stdout
    listed = cli("alias", "churn")
    assert "churn@champion" in listed.stdout and "2" in listed.stdout
    missing = cli("alias", "churn", "champion")
    assert missing.returncode == 2 and "stratum alias churn@VERSION champion" in missing.stderr
    table = cli("events", "churn")
    assert table.returncode == 0 and "alias_set" in table.stdout and "registered" in table.stdout
    as_json = json.loads(cli("events", "churn", "--json").stdout)
    assert [e["kind"] for e in as_json] == ["registered", "registered", "alias_set"]
    assert as_json[-1]["details"] == {"alias": "champion", "previous": None, "reason": "first"}
    assert cli("alias", "churn", "champion", "--delete").returncode == 0
    assert reg.aliases("churn") == []


def test_schema_2_registry_migrates(stratum_home, fitted_pipeline):
    """A registry written before aliases/events/reference opens, keeps its versions and gains the tables."""
    reg = open_registry()
    reg.register("churn", fitted_pipeline, lineage={})
    db = stratum_home / "registry.sqlite3"
    with sqlite3.connect(db) as conn:  # undo schemas 3 and 4 by hand: what a schema-2 registry looks like
        conn.execute("DROP TABLE rollouts")
        conn.execute("DROP TABLE aliases")
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE model_versions DROP COLUMN reference")
        conn.execute("PRAGMA user_version = 2")
    reopened = open_registry()
    assert reopened.get("churn").version == 1 and reopened.get("churn").reference is None
    reopened.set_alias("churn", "champion", 1)
    assert reopened.get("churn@champion").sha256 == reg.get("churn@1").sha256
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
