"""Fixtures for the registry tests: the registry of the test's own $STRATUM_HOME and a fitted pipeline."""

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
def registry(stratum_home):
    """The registry at this test's own ``$STRATUM_HOME`` (the root autouse ``stratum_home``)."""
    return open_registry()
