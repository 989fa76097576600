"""The training sample is a typed field of a version, and older registries move it there."""

from __future__ import annotations

import json
import sqlite3

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from jupyter_stratum.registry import open_registry
from jupyter_stratum.registry.index import SCHEMA_VERSION
from jupyter_stratum.registry.model_version import Sample


def _model():
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y), X


def test_sample_is_typed_and_round_trips(stratum_home):
    model, X = _model()
    reg = open_registry()
    records = [{"a": float(v)} for v in X[:3, 0]]
    expected = model.predict(X[:3]).tolist()
    mv = reg.register("iris", model, lineage={"sample": {"records": records, "expected": expected}})
    again = reg.get("iris@1")
    assert isinstance(again.sample, Sample)
    assert again.sample == Sample(records=records, expected=expected) == mv.sample
    assert "sample" not in again.extra
    assert reg.register("bare", model, lineage={}).sample is None


def test_a_schema_1_registry_moves_its_sample_out_of_extra(stratum_home):
    model, X = _model()
    reg = open_registry()
    records = [{"a": 1.5}]
    reg.register("old", model, lineage={"task": "classification"})
    db = reg.root / "registry.sqlite3"
    # make it look as schema 1 wrote it: no sample column, the sample inside extra
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE model_versions DROP COLUMN sample")
        conn.execute("ALTER TABLE model_versions DROP COLUMN reference")  # schema 3's additions
        conn.execute("DROP TABLE aliases")
        conn.execute("DROP TABLE events")
        conn.execute("DROP TABLE rollouts")  # schema 4's
        conn.execute(
            "UPDATE model_versions SET extra = ?", (json.dumps({"sample": {"records": records, "expected": [0]}}),)
        )
        conn.execute("PRAGMA user_version = 1")
    migrated = open_registry().get("old@1")
    assert migrated.sample == Sample(records=records, expected=[0])
    assert migrated.extra == {}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    np_loaded = migrated.load()
    assert (np_loaded.predict(X[:5]) == model.predict(X[:5])).all()
