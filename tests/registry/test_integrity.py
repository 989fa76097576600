"""sha256 on every load, and all-or-nothing registration."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from jupyter_stratum.errors import RegistryError
from jupyter_stratum.registry import LocalArtifactStore, SQLiteIndex


def artifact_files(root):
    """Every file under the artifact directory, staging area included."""
    return sorted(p for p in (root / "artifacts").rglob("*") if p.is_file())


def rows_in_index(root):
    with sqlite3.connect(root / "registry.sqlite3") as conn:
        return conn.execute("SELECT name, version FROM model_versions").fetchall()


def test_tampered_artifact_is_refused_on_every_load(registry, fitted_pipeline, breast_cancer):
    X, _ = breast_cancer
    mv = registry.register("churn", fitted_pipeline, lineage={})
    registry.load("churn")  # fine before
    data = bytearray(mv.artifact_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    mv.artifact_path.write_bytes(bytes(data))
    found = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(RegistryError) as info:
        registry.load("churn@1")
    msg = str(info.value)
    assert "was modified" in msg and str(mv.artifact_path) in msg
    assert f"expected sha256 {mv.sha256}, found {found}" in msg
    with pytest.raises(RegistryError, match="was modified"):
        mv.load()
    # restoring the bytes makes it loadable again: the check compares content, not mtime
    data[len(data) // 2] ^= 0xFF
    mv.artifact_path.write_bytes(bytes(data))
    np.testing.assert_array_equal(registry.load("churn").predict(X), fitted_pipeline.predict(X))


def test_stored_sha256_is_the_file_sha256(registry, fitted_pipeline):
    mv = registry.register("churn", fitted_pipeline, lineage={})
    assert mv.sha256 == hashlib.sha256(mv.artifact_path.read_bytes()).hexdigest()


def test_missing_artifact_says_so(registry, fitted_pipeline):
    mv = registry.register("churn", fitted_pipeline, lineage={})
    mv.artifact_path.unlink()
    with pytest.raises(RegistryError, match="artifact of churn@1 is missing"):
        registry.load("churn")


def _assert_nothing_left(registry):
    assert rows_in_index(registry.root) == []
    assert artifact_files(registry.root) == []
    assert registry.names() == []


class HoldsGenerator(LogisticRegression):
    """A model skops cannot serialise: a generator attribute."""

    def fit(self, X, y):
        super().fit(X, y)
        self.stream_ = (row for row in X)
        return self


def test_model_skops_cannot_save_leaves_nothing(registry, breast_cancer):
    X, y = breast_cancer
    with pytest.raises(RegistryError, match="Could not save 'churn' with the 'sklearn' flavor.*Nothing was registered"):
        registry.register("churn", HoldsGenerator(max_iter=2000).fit(X[:, :3], y), lineage={})
    _assert_nothing_left(registry)


def test_model_that_could_not_be_loaded_back_is_not_registered(registry, breast_cancer):
    # skops writes a lambda as "__main__.<lambda>", which no load could import: refuse it now
    X, y = breast_cancer
    model = make_pipeline(FunctionTransformer(lambda a: a * 2), LogisticRegression(max_iter=2000)).fit(X[:, :3], y)
    with pytest.raises(RegistryError, match=r"Could not register 'churn':.*<lambda>.*Nothing was registered"):
        registry.register("churn", model, lineage={})
    _assert_nothing_left(registry)


def test_store_failure_before_publish_leaves_nothing(registry, fitted_pipeline, monkeypatch):
    def broken_publish(self, staged, key):
        raise OSError("disk full")

    monkeypatch.setattr(LocalArtifactStore, "publish", broken_publish)
    with pytest.raises(OSError, match="disk full"):
        registry.register("churn", fitted_pipeline, lineage={})
    _assert_nothing_left(registry)


def test_failure_after_publish_rolls_back_row_and_file(registry, fitted_pipeline, monkeypatch):
    published = []
    original = LocalArtifactStore.publish

    def publish_then_fail(self, staged, key):
        original(self, staged, key)
        published.append(self.local_path(key))
        assert published[-1].is_file()  # the file really was moved into place
        raise RuntimeError("crash right after the move")

    monkeypatch.setattr(LocalArtifactStore, "publish", publish_then_fail)
    with pytest.raises(RuntimeError, match="crash right after the move"):
        registry.register("churn", fitted_pipeline, lineage={})
    assert published and not published[0].exists()
    _assert_nothing_left(registry)
    monkeypatch.undo()
    # the version number was not consumed
    assert registry.register("churn", fitted_pipeline, lineage={}).version == 1


def test_failing_insert_leaves_nothing(registry, fitted_pipeline, monkeypatch):
    first = registry.register("churn", fitted_pipeline, lineage={})
    # the INSERT itself fails (UNIQUE artifact) inside the transaction
    monkeypatch.setattr(LocalArtifactStore, "key_for", lambda self, name, version, suffix: first.artifact)
    with pytest.raises(sqlite3.IntegrityError):
        registry.register("churn", fitted_pipeline, lineage={})
    assert rows_in_index(registry.root) == [("churn", 1)]
    assert artifact_files(registry.root) == [first.artifact_path]
    registry.load("churn@1")  # still intact, sha256 unchanged


def test_index_integrity_check(registry, fitted_pipeline):
    registry.register("churn", fitted_pipeline, lineage={})
    assert isinstance(registry.index, SQLiteIndex)
    assert registry.index.integrity_check() == "ok"


@pytest.mark.parametrize(
    "lineage, field",
    [
        ({"cv_score": "high"}, "cv_score"),
        ({"params": [1, 2]}, "params"),
        ({"duration_s": "slow"}, "duration_s"),
        ({"metric": "f1", "cv_scores": [0.1]}, "cv_scores"),
    ],
)
def test_bad_lineage_is_refused_before_anything_is_written(registry, fitted_pipeline, lineage, field):
    with pytest.raises(RegistryError, match=rf"lineage\['{field}'\] must be"):
        registry.register("churn", fitted_pipeline, lineage=lineage)
    _assert_nothing_left(registry)


def test_leftovers_of_dead_savers_are_swept(stratum_home, fitted_pipeline):
    import os
    import time

    from jupyter_stratum.registry import open_registry

    reg = open_registry()
    old = reg.root / "artifacts" / ".staging" / "dead.skops"
    fresh = reg.root / "artifacts" / ".staging" / "saving-now.skops"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    open_registry()
    assert not old.exists() and fresh.exists()
