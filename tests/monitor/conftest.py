"""Fixtures for the monitor tests: a registry holding a real fitted model whose bundle a
real runtime serves."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class Fitted:
    ref: str
    model: object
    X_test: object


@pytest.fixture(scope="session")
def monitor_registry(tmp_path_factory):
    """A registry holding 'cancer@1' (scaled logistic regression on breast cancer);
    ``.fitted`` is the model and its test rows."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.testing import bundle_lineage

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(X_train, y_train)
    reg = open_registry(tmp_path_factory.mktemp("monitor-home"))
    mv = reg.register("cancer", model, lineage=bundle_lineage(model, X_train, X_test.head(5)))
    reg.fitted = Fitted(mv.ref, model, X_test)
    return reg
