"""Fixtures for the registry tests: a fresh $STRATUM_HOME per test and a fitted pipeline."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jupyter_stratum.registry import open_registry


@pytest.fixture(scope="session")
def breast_cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.fixture(scope="session")
def fitted_pipeline(breast_cancer):
    X, y = breast_cancer
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)).fit(X, y)


@pytest.fixture
def home(tmp_path, monkeypatch):
    root = tmp_path / "stratum-home"
    monkeypatch.setenv("STRATUM_HOME", str(root))
    return root


@pytest.fixture
def registry(home):
    return open_registry()
