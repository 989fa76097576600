from __future__ import annotations

import dataclasses
import getpass
import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import platformdirs
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

import jupyter_stratum
from jupyter_stratum.errors import RegistryError
from jupyter_stratum.registry import ModelSummary, ModelVersion, Registry, load, open_registry
from jupyter_stratum.registry.registry import default_root

LINEAGE = {
    "task": "classification",
    "metric": "roc_auc",
    "params": {"C": 0.5},
    "cv_scores": {
        "roc_auc": {"mean": np.float64(0.99), "std": 0.004, "folds": np.array([0.98, 0.99, 1.0])},
        "accuracy": {"mean": 0.97, "std": 0.01, "folds": [0.96, 0.97, 0.98]},
    },
    "holdout_scores": {"roc_auc": np.float32(0.995), "accuracy": 0.98},
    "spec_yaml": "data: sklearn:breast_cancer\ntarget: target\n",
    "data_fingerprint": "sha256:abc",
    "input_schema": {"columns": [{"name": "f0", "dtype": "float64"}]},
    "classes": np.array([0, 1]),
    "duration_s": 1.25,
    "run_id": "r-42",  # unknown key -> extra
}


def test_round_trip_pipeline_predictions_equal(registry, fitted_pipeline, breast_cancer):
    X, _ = breast_cancer
    mv = registry.register("churn", fitted_pipeline, lineage=LINEAGE)
    assert isinstance(mv, ModelVersion) and mv.ref == "churn@1"
    assert mv.artifact_path.is_file() and mv.artifact_path.is_relative_to(registry.root)
    assert not Path(mv.artifact).is_absolute()
    loaded = registry.load("churn")
    assert loaded is not fitted_pipeline
    np.testing.assert_array_equal(loaded.predict(X), fitted_pipeline.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted_pipeline.predict_proba(X))
    np.testing.assert_array_equal(mv.load().predict(X), fitted_pipeline.predict(X))


@pytest.mark.parametrize("model_cls", [RandomForestClassifier, HistGradientBoostingClassifier])
def test_tree_models_load_with_their_own_trusted_types(registry, breast_cancer, model_cls):
    X, y = breast_cancer
    kwargs = {"n_estimators": 5} if model_cls is RandomForestClassifier else {"max_iter": 5}
    model = model_cls(random_state=0, **kwargs).fit(X, y)
    registry.register("trees", model, lineage={})
    np.testing.assert_array_equal(registry.load("trees").predict_proba(X), model.predict_proba(X))


def test_lineage_is_stored_and_read_back(registry, fitted_pipeline):
    mv = registry.register("churn", fitted_pipeline, lineage=LINEAGE)
    got = registry.get("churn@1")
    assert got.to_dict() == mv.to_dict()
    assert got.algorithm == "LogisticRegression"  # last step of the pipeline
    assert got.author == getpass.getuser() and got.host == socket.gethostname()
    assert set(got.library_versions) >= {"python", "scikit-learn", "numpy", "pandas", "skops"}
    assert got.library_versions["scikit-learn"] == __import__("sklearn").__version__
    assert got.cv_score == pytest.approx(0.99) and got.holdout_score == pytest.approx(0.995)
    assert got.cv_scores["roc_auc"]["folds"] == [0.98, 0.99, 1.0]
    assert got.classes == [0, 1] and got.params == {"C": 0.5} and got.duration_s == 1.25
    assert got.extra == {"run_id": "r-42"}
    assert got.flavor == "sklearn" and len(got.sha256) == 64
    # created_at is ISO-8601 UTC
    from datetime import datetime, timezone

    assert datetime.fromisoformat(got.created_at).utcoffset() == timezone.utc.utcoffset(None)
    # to_dict is strict JSON (no numpy values, no NaN)
    json.dumps(got.to_dict(), allow_nan=False)
    assert "_registry" not in got.to_dict()
    assert dataclasses.asdict(got) == got.to_dict()


def test_explicit_author_and_host_win(registry, fitted_pipeline):
    mv = registry.register("m", fitted_pipeline, lineage={"author": "ana", "host": "gpu-7", "algorithm": "lr"})
    assert (mv.author, mv.host, mv.algorithm) == ("ana", "gpu-7", "lr")


def test_versions_increment_and_refs(registry, fitted_pipeline, breast_cancer):
    X, y = breast_cancer
    other = RandomForestClassifier(n_estimators=3, random_state=1).fit(X, y)
    refs = [registry.register("churn", m, lineage={}).ref for m in (fitted_pipeline, other, fitted_pipeline)]
    assert refs == ["churn@1", "churn@2", "churn@3"]
    assert [v.version for v in registry.versions("churn")] == [1, 2, 3]
    assert registry.get("churn").version == 3
    assert registry.get("churn@latest").version == 3
    assert registry.get("churn@2").algorithm == "RandomForestClassifier"
    np.testing.assert_array_equal(registry.load("churn@2").predict(X), other.predict(X))
    assert len({v.artifact for v in registry.versions("churn")}) == 3
    with pytest.raises(RegistryError, match=r"^churn has versions 1-3; there is no version 7\."):
        registry.get("churn@7")
    with pytest.raises(RegistryError, match="version number >= 1"):
        registry.get("churn@0")
    with pytest.raises(RegistryError, match="no alias 'x'"):  # a name after '@' is an alias
        registry.get("churn@x")


def test_unknown_name_lists_registered_models(registry, fitted_pipeline):
    with pytest.raises(RegistryError, match="registry at .* is empty"):
        registry.get("churn")
    registry.register("b-model", fitted_pipeline, lineage={})
    registry.register("a_model", fitted_pipeline, lineage={})
    with pytest.raises(RegistryError, match=r"^No model named 'churn'\. Registered models: a_model, b-model\.$"):
        registry.get("churn")
    with pytest.raises(RegistryError, match="No model named 'churn'"):
        registry.versions("churn")
    assert registry.names() == ["a_model", "b-model"]


@pytest.mark.parametrize("bad", ["", "-x", ".hidden", "a/b", "../up", "a b", "é", "x" * 129, None, 3])
def test_invalid_names_are_refused(registry, fitted_pipeline, bad):
    with pytest.raises(RegistryError, match="letters, digits"):
        registry.register(bad, fitted_pipeline, lineage={})
    assert registry.names() == []


def test_list_models(registry, fitted_pipeline):
    assert registry.list_models() == []
    registry.register(
        "churn",
        fitted_pipeline,
        lineage={"metric": "roc_auc", "task": "classification", "cv_score": 0.9, "holdout_score": 0.8},
    )
    last = registry.register(
        "churn",
        fitted_pipeline,
        lineage={
            "metric": "f1",
            "task": "classification",
            "cv_scores": {"f1": {"mean": 0.7, "std": 0, "folds": []}},
            "holdout_scores": {"f1": 0.6},
        },
    )
    registry.register("price", fitted_pipeline, lineage={"task": "regression", "metric": "r2"})
    summaries = registry.list_models()
    assert [s.name for s in summaries] == ["churn", "price"]
    churn = summaries[0]
    assert isinstance(churn, ModelSummary)
    assert (churn.latest_version, churn.n_versions, churn.metric, churn.cv_score, churn.holdout_score) == (
        2,
        2,
        "f1",
        0.7,
        0.6,
    )
    assert churn.updated_at == last.created_at and churn.algorithm == "LogisticRegression"
    assert summaries[1].task == "regression" and summaries[1].n_versions == 1
    json.dumps([s.to_dict() for s in summaries])


def test_stratum_home_is_honoured(stratum_home, fitted_pipeline, breast_cancer, tmp_path):
    X, _ = breast_cancer
    reg = open_registry()
    assert reg.root == stratum_home.resolve() and stratum_home.is_dir()
    assert (stratum_home / "registry.sqlite3").is_file()
    reg.register("churn", fitted_pipeline, lineage={})
    # module-level load and the lazy top-level jupyter_stratum.load read the same registry
    np.testing.assert_array_equal(load("churn@1").predict(X), fitted_pipeline.predict(X))
    np.testing.assert_array_equal(jupyter_stratum.load("churn").predict(X), fitted_pipeline.predict(X))
    # an explicit root wins over the environment
    other = open_registry(tmp_path / "elsewhere")
    assert other.root == (tmp_path / "elsewhere").resolve() and other.names() == []


def test_default_root_without_env_is_user_data_dir(monkeypatch):
    monkeypatch.delenv("STRATUM_HOME", raising=False)
    assert default_root() == Path(platformdirs.user_data_dir("jupyter-stratum"))


def test_sqlite_is_in_wal_mode_with_schema(registry):
    with sqlite3.connect(registry.root / "registry.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"model_versions", "deployments"} <= tables


def test_reopening_keeps_models(stratum_home, fitted_pipeline):
    open_registry().register("churn", fitted_pipeline, lineage={})
    again = Registry(stratum_home)
    assert again.get("churn").version == 1
    assert again.register("churn", fitted_pipeline, lineage={}).version == 2


def test_import_is_lazy():
    code = (
        "import sys, jupyter_stratum.registry as r; r.open_registry; "
        "bad = [m for m in ('dask', 'tensorflow', 'bokeh', 'ansible', 'sklearn', 'skops') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(jupyter_stratum.__file__).parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
