"""Results of real training runs (on the session's real Dask cluster), shared by the view tests."""

from __future__ import annotations

import pytest

BINARY_SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 5, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: [0.1, 1]}
  - random_forest: {n_estimators: 20}
  - decision_tree: {max_depth: 3}
metric: roc_auc
"""

MULTICLASS_SPEC = """\
data: sklearn:iris
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression
  - decision_tree: {max_depth: 2}
metric: accuracy
"""

REGRESSION_SPEC = """\
data: sklearn:diabetes
split: {test_size: 0.2, cv: 4, seed: 0}
preprocess: [standard_scaler]
models:
  - ridge: {alpha: 10.0}
  - decision_tree: {max_depth: 3}
metric: r2
"""


@pytest.fixture(scope="session")
def binary_run(client):
    from jupyter_stratum.training import train

    events = []
    result = train(BINARY_SPEC, name=None, client=client, on_event=events.append)
    return result, events


@pytest.fixture(scope="session")
def binary_result(binary_run):
    return binary_run[0]


@pytest.fixture(scope="session")
def multiclass_result(client):
    from jupyter_stratum.training import train

    return train(MULTICLASS_SPEC, name=None, client=client)


@pytest.fixture(scope="session")
def regression_result(client):
    from jupyter_stratum.training import train

    return train(REGRESSION_SPEC, name=None, client=client)


@pytest.fixture
def specs():
    return {"binary": BINARY_SPEC, "multiclass": MULTICLASS_SPEC, "regression": REGRESSION_SPEC}
