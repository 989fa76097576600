"""Retraining on a real Dask cluster: the version's own spec on its data plus labelled captured rows,
registered with parent and reason; a failed retrain registers nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from jupyter_stratum.errors import DataError
from jupyter_stratum.registry import open_registry
from jupyter_stratum.supervise.retrain import retrain_version
from jupyter_stratum.training.run import train

SPEC = """\
data: {path}
target: label
split: {{test_size: 0.25, cv: 2, seed: 0}}
preprocess: [standard_scaler]
models:
  - logistic_regression: {{C: [1.0]}}
metric: accuracy
"""


def test_retrain_registers_a_child_version(client, mixed, tmp_path):
    X_train, X_test, y_train, y_test = mixed
    numeric = ["age", "visits", "spend"]
    data = tmp_path / "churn.csv"
    X_train[numeric].assign(label=y_train.values).to_csv(data, index=False)
    registry = open_registry(tmp_path / "registry")
    parent = train(SPEC.format(path=data), "churn", client=client, registry=registry).version
    captured = X_test[numeric].head(40).assign(label=y_test.head(40).values).reset_index(drop=True)

    child = retrain_version(registry, parent, captured, reason={"event": 7, "why": "drift"}, client=client)
    assert child.version == parent.version + 1
    assert child.extra["parent"] == {"version": parent.version, "ref": parent.ref}
    assert child.extra["retrain"]["event"] == 7 and child.extra["retrain"]["captured_rows"] == 40
    trained_on = pd.read_parquet(child.extra["retrain"]["data"])
    assert len(trained_on) == len(X_train) + 40 and child.data_fingerprint != parent.data_fingerprint

    bad = captured.assign(label=None)  # missing labels: training refuses, nothing is registered
    with pytest.raises(DataError, match="missing"):
        retrain_version(registry, child, bad, reason={"event": 8}, client=client)
    assert [v.version for v in registry.versions("churn")] == [parent.version, child.version]
    assert sorted(p.name for p in (registry.root / "supervise" / "churn").iterdir()) == ["retrain-from-1-7.parquet"]
