"""Scores of a run on a real multi-process cluster equal scikit-learn's own on the same folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jupyter_stratum.training import train

pytestmark = pytest.mark.cluster

SCORING = {
    "roc_auc": "roc_auc",
    "accuracy": "accuracy",
    "f1": "f1",
    "log_loss": "neg_log_loss",
    "balanced_accuracy": "balanced_accuracy",
    "precision": "precision",
    "recall": "recall",
}


def sklearn_reference():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    models = {f"logistic_regression(C={c})": LogisticRegression(C=c, random_state=0) for c in (0.1, 1, 10)}
    models["random_forest"] = RandomForestClassifier(n_estimators=30, random_state=0)
    cv_scores = {}
    for cid, model in models.items():
        out = cross_validate(make_pipeline(StandardScaler(), model), X_train, y_train, cv=cv, scoring=SCORING)
        cv_scores[cid] = {m: (-out[f"test_{m}"] if m == "log_loss" else out[f"test_{m}"]) for m in SCORING}
    return models, cv_scores, (X_train, X_test, y_train, y_test)


@pytest.fixture(scope="module")
def reference():
    return sklearn_reference()


def test_cv_and_holdout_scores_equal_sklearn(client, breast_cancer_spec, reference):
    models, cv_scores, (X_train, X_test, y_train, y_test) = reference
    result = train(breast_cancer_spec, name="cancer", client=client)

    assert {c.id for c in result.candidates} == set(cv_scores)
    for candidate in result.candidates:
        assert not candidate.failed
        for metric, expected in cv_scores[candidate.id].items():
            np.testing.assert_allclose(
                candidate.fold_scores(metric), expected, rtol=0, atol=1e-9, err_msg=f"{candidate.id} {metric}"
            )
            assert candidate.mean(metric) == pytest.approx(np.mean(expected), abs=1e-9)

    # the best by mean roc_auc, refit on the training part, scored on the holdout
    best_id = max(cv_scores, key=lambda cid: np.mean(cv_scores[cid]["roc_auc"]))
    assert result.best.id == best_id
    reference_model = make_pipeline(StandardScaler(), models[best_id]).fit(X_train, y_train)
    proba = reference_model.predict_proba(X_test)
    pred = reference_model.predict(X_test)
    assert result.holdout_scores["roc_auc"] == pytest.approx(roc_auc_score(y_test, proba[:, 1]), abs=1e-12)
    assert result.holdout_scores["accuracy"] == pytest.approx(accuracy_score(y_test, pred), abs=1e-12)
    assert result.holdout_scores["f1"] == pytest.approx(f1_score(y_test, pred), abs=1e-12)
    assert result.holdout_scores["log_loss"] == pytest.approx(log_loss(y_test, proba), abs=1e-12)
    np.testing.assert_array_equal(result.model.predict(X_test), pred)

    # plot data: out-of-fold curves computed from the same predictions sklearn would make
    roc = result.best.roc_curve()
    assert roc["auc"] == pytest.approx(roc_auc_score(result.best.y_true, result.best.y_score[:, 1]), abs=1e-12)
    cm = result.best.confusion_matrix()
    assert cm.sum() == len(y_train)
    # the out-of-fold predictions sklearn makes on the same folds, in the training part's row order
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    oof = cross_val_predict(make_pipeline(StandardScaler(), models[best_id]), X_train, y_train, cv=cv)
    np.testing.assert_array_equal(cm, confusion_matrix(y_train, oof, labels=result.best.classes))

    # registered with its lineage
    assert result.version is not None and result.version.ref == "cancer@1"
    from jupyter_stratum import load

    loaded = load("cancer")
    np.testing.assert_array_equal(loaded.predict(X_test), pred)


def test_worker_killed_mid_run_still_completes_with_same_scores(dask_factory, reference):
    """One of two worker processes is SIGKILLed while tasks run; its tasks run again and scores are unchanged."""
    from distributed import Client

    from jupyter_stratum.events import TaskFinished, TaskStarted

    procs = dask_factory(workers={"steady": (), "victim": ()}, nanny=False)
    _, cv_scores, _ = reference
    spec = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 5, seed: 0}
preprocess: [standard_scaler]
models:
  - random_forest: {n_estimators: 30}
  - logistic_regression: {C: [0.1, 1, 10]}
metric: roc_auc
"""
    events = []
    killed = []

    def on_event(event):
        events.append(event)
        # kill the victim as soon as it has started a task it has not finished
        if isinstance(event, TaskStarted) and event.worker == "victim" and not killed:
            procs.kill_worker("victim")
            killed.append(event.key)

    with Client(procs.address, timeout=30, set_as_default=False) as client:
        result = train(spec, name="survivor", client=client, on_event=on_event)

    assert killed, "the victim worker never started a task"
    finished = [e for e in events if isinstance(e, TaskFinished)]
    assert len(finished) == 20
    # every task finished, the ones after the kill on the steady worker
    assert {e.worker for e in finished[-5:]} == {"steady"}
    # the task that was running on the victim finished on the steady worker, run again by Dask
    assert any(e.key == killed[0] and e.worker == "steady" for e in finished)
    for candidate in result.candidates:
        assert len(candidate.folds) == 5
        np.testing.assert_allclose(
            candidate.fold_scores("roc_auc"), cv_scores[candidate.id]["roc_auc"], rtol=0, atol=1e-9
        )
    assert result.version.ref == "survivor@1"
