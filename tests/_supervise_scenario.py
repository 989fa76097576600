"""The supervise scenarios' shared setup: the spec of their first version, training it on Dask, and
drifted traffic with its labels sent back to a runtime."""

from __future__ import annotations

#: the spec the supervise scenarios train their first version with (data: a CSV of numeric columns + label)
SPEC = """\
data: {path}
target: label
split: {{test_size: 0.25, cv: 2, seed: 0}}
preprocess: [standard_scaler]
models:
  - logistic_regression: {{C: [1.0]}}
metric: accuracy
"""
NUMERIC = ["age", "visits", "spend"]


def train_parent(client, mixed, tmp_path):
    """Version 1 of ``churn`` trained on Dask from the numeric columns of ``mixed``, in a registry under tmp_path."""
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.training.run import train

    X_train, _, y_train, _ = mixed
    data = tmp_path / "churn.csv"
    X_train[NUMERIC].assign(label=y_train.values).to_csv(data, index=False)
    registry = open_registry(tmp_path / "registry")
    return registry, train(SPEC.format(path=data), "churn", client=client, registry=registry).version


def drifted_traffic_with_labels(server, mixed, rows: int = 60) -> list[int]:
    """``rows`` shifted rows (age + 40) served 5 at a time, each answer's labels sent back; the statuses of the
    feedback posts."""
    from _helpers import records_of

    _, X_test, _, y_test = mixed
    shifted = X_test[NUMERIC].head(rows).assign(age=lambda f: f["age"] + 40)
    statuses = []
    for start in range(0, rows, 5):
        _, answer, _ = server.post("/predict", {"records": records_of(shifted.iloc[start : start + 5])})
        labels = list(y_test.iloc[start : start + 5])
        statuses.append(server.post("/v2/models/churn/feedback", {"ids": [answer["id"]], "labels": [labels]})[0])
    return statuses
