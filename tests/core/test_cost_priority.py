"""Cost-aware scheduling: the expensive candidates' folds start first, with the same scores.

A real LocalCluster of one worker process with one thread runs the tasks one at a
time, so the order of the workers' "task started" events is the order Dask chose.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from jupyter_stratum.events import TaskFinished, TaskStarted
from jupyter_stratum.training.cost import estimate_cost, task_priorities

pytestmark = pytest.mark.cluster

# listed cheapest first: in plan order the gradient boosting folds would start last
SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression
  - decision_tree: {max_depth: 4}
  - random_forest: {n_estimators: 20}
  - gradient_boosting: {n_estimators: 60}
metric: accuracy
metrics: [accuracy, roc_auc]
"""


def _priorities_on_scheduler(dask_scheduler, prefix):
    return {
        str(k): ts.priority[0] for k, ts in dask_scheduler.tasks.items() if str(k).startswith(prefix) and ts.priority
    }


def test_expensive_candidates_folds_start_first_with_sklearns_scores():
    from distributed import Client, LocalCluster

    from jupyter_stratum.training import prepare
    from jupyter_stratum.training.engine import run_plan
    from jupyter_stratum.training.plan import make_splits

    spec, dataset, plan = prepare(SPEC)
    splits = make_splits(dataset.y, spec.split, plan.task)
    ranks = task_priorities(plan.candidates, len(splits.train))
    assert ranks == {"logistic_regression": 0, "decision_tree": 0, "random_forest": 1, "gradient_boosting": 2}

    started: list[TaskStarted] = []
    on_scheduler: dict[str, float] = {}
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):

        def on_event(event):
            if isinstance(event, TaskStarted):
                started.append(event)
            elif isinstance(event, TaskFinished) and not on_scheduler:
                # every task is submitted and still held by the run: read what the scheduler orders by
                on_scheduler.update(client.run_on_scheduler(_priorities_on_scheduler, prefix="stratum-"))

        out = run_plan(plan, dataset, splits, client, on_event=on_event)

    assert not out.errors
    order = [e.candidate_id for e in started]
    assert len(order) == 12 and all(e.attempt == 1 for e in started)
    assert order[:6] == ["gradient_boosting"] * 3 + ["random_forest"] * 3, order
    assert sorted(order[6:]) == ["decision_tree"] * 3 + ["logistic_regression"] * 3, order
    # the order comes from Dask's priorities (a higher priority is stored negated: lowest runs first)
    assert len(on_scheduler) == 12
    by_candidate = {e.key: e.candidate_id for e in started}
    assert {key: -prio for key, prio in on_scheduler.items()} == {k: ranks[c] for k, c in by_candidate.items()}

    # the order changes nothing: every fold's scores equal scikit-learn's cross_validate on the same folds
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    reference = {
        "logistic_regression": LogisticRegression(random_state=0),
        "decision_tree": DecisionTreeClassifier(max_depth=4, random_state=0),
        "random_forest": RandomForestClassifier(n_estimators=20, random_state=0),
        "gradient_boosting": GradientBoostingClassifier(n_estimators=60, random_state=0),
    }
    for cid, model in reference.items():
        expected = cross_validate(
            make_pipeline(StandardScaler(), model), X_train, y_train, cv=cv, scoring=["accuracy", "roc_auc"]
        )
        folds = sorted(out.folds[cid], key=lambda f: f.fold)
        for metric in ("accuracy", "roc_auc"):
            np.testing.assert_allclose(
                [f.scores[metric] for f in folds],
                expected[f"test_{metric}"],
                rtol=0,
                atol=1e-9,
                err_msg=f"{cid} {metric}",
            )


def test_cost_heuristic_orders_the_usual_suspects():
    """Boosting > forest > linear on the same rows; kernel SVMs and neighbours overtake linear models
    only on many rows; Keras by epochs."""
    rows = 10_000
    gb = estimate_cost("gradient_boosting_classifier", "GradientBoostingClassifier", {}, rows)
    rf = estimate_cost("random_forest_classifier", "RandomForestClassifier", {}, rows)
    lr = estimate_cost("logistic_regression", "LogisticRegression", {}, rows)
    assert gb > rf > lr
    assert estimate_cost("random_forest_classifier", "RandomForestClassifier", {"n_estimators": 500}, rows) > gb
    assert estimate_cost("svc", "SVC", {}, 200) < estimate_cost("logistic_regression", "LogisticRegression", {}, 200)
    assert estimate_cost("svc", "SVC", {}, 200_000) > estimate_cost(
        "random_forest_classifier", "RandomForestClassifier", {}, 200_000
    )
    assert estimate_cost("k_neighbors_classifier", "KNeighborsClassifier", {}, 200_000) > lr
    few = estimate_cost("keras_mlp_classifier", "KerasMLPClassifier", {"epochs": 2}, rows)
    many = estimate_cost("keras_mlp_classifier", "KerasMLPClassifier", {"epochs": 50}, rows)
    assert many > rf > few
