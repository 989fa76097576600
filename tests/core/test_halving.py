"""Successive halving on a real Dask cluster.

- the synchronous mode makes scikit-learn's HalvingRandomSearchCV's choices: same candidates, same
  resources and the same survivors at every rung, and the same fold scores;
- every rung's scores equal scikit-learn's cross_validate on the same rows and folds (1e-9);
- the asynchronous mode (ASHA, the default) chooses from the scores alone, so a worker killed during
  the search changes nothing: the result equals an undisturbed run with the same seed.
"""

from __future__ import annotations

import math
import os
import random
import signal
import threading

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import HalvingRandomSearchCV, StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jupyter_stratum.events import TaskFinished, TaskRetried
from jupyter_stratum.training import train
from jupyter_stratum.training.halving import AsyncHalving, Schedule, SyncHalving, rung_positions

pytestmark = pytest.mark.cluster

ONE_FAMILY = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 5, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: loguniform(1e-4, 1e2)}
search: {strategy: halving, mode: sync, candidates: 27, factor: 3, min_resources: 40}
metric: roc_auc
"""


def _train_part():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    return X_train, y_train


@pytest.fixture(scope="module")
def sync_result(client):
    return train(ONE_FAMILY, client=client, register=False)


def test_sync_mode_makes_scikit_learns_halving_choices(sync_result):
    X_train, y_train = _train_part()
    reference = HalvingRandomSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(random_state=0)),
        {"logisticregression__C": stats.loguniform(1e-4, 1e2)},
        n_candidates=27,
        factor=3,
        min_resources=40,
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
        scoring="roc_auc",
        random_state=0,
        refit=False,
    ).fit(X_train, y_train)
    res = reference.cv_results_
    schedule = sync_result.plan.schedule
    assert list(schedule.resources) == list(reference.n_resources_) == [40, 120, 360]

    by_rung: dict[int, dict[float, object]] = {}
    for e in sync_result.evaluations:
        c = sync_result.candidate(e.candidate_id)
        by_rung.setdefault(e.rung, {})[c.params["C"]] = e
    assert [len(by_rung[r]) for r in sorted(by_rung)] == list(reference.n_candidates_) == [27, 9, 3]
    for i, (itr, params) in enumerate(zip(res["iter"], res["params"])):
        e = by_rung[itr][params["logisticregression__C"]]  # the same configuration survived to this rung
        assert e.n_resources == res["n_resources"][i]
        scores = [f.scores["roc_auc"] for f in e.folds]
        np.testing.assert_allclose(scores, [res[f"split{k}_test_score"][i] for k in range(5)], rtol=0, atol=1e-9)
    # the winner is scikit-learn's best of the last rung, refit on the whole training part
    assert sync_result.best.params["C"] == reference.best_params_["logisticregression__C"]
    assert sync_result.best.rung == 2
    assert sync_result.leaderboard.candidates[0] is sync_result.best
    assert {row["rung"] for row in sync_result.leaderboard.evaluations()} == {0, 1, 2}


def test_every_rung_scores_equal_cross_validate_on_the_same_rows_and_folds(sync_result):
    X_train, y_train = _train_part()
    plan = sync_result.plan
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X_train, y_train))
    checked = 0
    for e in sync_result.evaluations:
        rows = rung_positions(folds, e.n_resources / plan.n_train, plan.search_seed)
        for f, (tr, te) in zip(e.folds, rows):  # the rung's rows are subsets of the same folds
            np.testing.assert_array_equal(np.sort(f.test_positions), np.sort(te))
            assert set(te) <= set(folds[f.fold][1]) and set(tr) <= set(folds[f.fold][0])
        C = sync_result.candidate(e.candidate_id).params["C"]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, random_state=0))
        out = cross_validate(model, X_train, y_train, cv=rows, scoring=["roc_auc", "accuracy"])
        for metric in ("roc_auc", "accuracy"):
            got = [f.scores[metric] for f in e.folds]
            np.testing.assert_allclose(got, out[f"test_{metric}"], rtol=0, atol=1e-9, err_msg=f"{e} {metric}")
        checked += 1
    assert checked == 27 + 9 + 3


def test_rules_asha_promotes_without_a_barrier_and_ignores_timing():
    schedule = Schedule("n_samples", 3.0, 10, 90, (10, 30, 90), 9)
    rng = random.Random(0)
    scores = {i: rng.random() for i in range(9)}

    def run(order_seed: int | None):
        asha = AsyncHalving(schedule)
        queue = asha.start()
        trace, reported_before_first_promotion = [], None
        shuffle = random.Random(order_seed)
        n_reported = 0
        while queue:
            if order_seed is not None:
                shuffle.shuffle(queue)
            c, rung = queue.pop(0)
            new = asha.report(c, rung, scores[c] + rung)
            n_reported += 1
            if new and reported_before_first_promotion is None:
                reported_before_first_promotion = n_reported
            trace.extend(new)
            queue.extend(new)
        assert asha.done
        return sorted(trace), reported_before_first_promotion

    in_order, first_promotion = run(None)
    # no barrier: the first promotion comes before the first rung has all its 9 results
    assert first_promotion < 9
    assert all(run(seed)[0] == in_order for seed in range(20))  # same choices whatever the completion order
    best = sorted(range(9), key=lambda i: -scores[i])
    promoted_to_1 = {c for c, rung in in_order if rung == 1}
    assert len(promoted_to_1) == 3 and best[0] in promoted_to_1  # the synchronous count; the best always goes on

    sync = SyncHalving(schedule)
    sync.start()
    assert sync.report(0, 0, math.nan) == []  # nothing goes on before the rung is complete


ASYNC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: loguniform(1e-3, 1e2)}
  - decision_tree: {max_depth: randint(2, 12)}
  - random_forest: {n_estimators: randint(5, 40), max_depth: [4, 8, null]}
search: {strategy: halving, candidates: 18, factor: 3, seed: 5}
metric: accuracy
"""


def _summary(result):
    return sorted(
        (e.candidate_id, e.rung, e.n_resources, tuple(round(f.scores["accuracy"], 12) for f in e.folds))
        for e in result.evaluations
    )


def test_a_killed_worker_loses_nothing_in_an_asynchronous_search():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        undisturbed = train(ASYNC, client=client, register=False)
        assert undisturbed.plan.halving_mode == "async"
        pids = list(client.run(os.getpid).values())
        finished = []
        killed = threading.Event()

        def on_event(event):
            if isinstance(event, TaskFinished):
                finished.append(event)
                if len(finished) == 20 and not killed.is_set():
                    os.kill(pids[0], signal.SIGKILL)  # the worker process dies; its nanny starts another
                    killed.set()

        events = []
        disturbed = train(ASYNC, client=client, register=False, on_event=lambda e: (events.append(e), on_event(e)))
    assert killed.is_set() and len(finished) > 20  # the kill came mid-search
    assert _summary(disturbed) == _summary(undisturbed)
    assert disturbed.best.id == undisturbed.best.id
    assert disturbed.holdout_scores == undisturbed.holdout_scores
    # the winner is refit with the parameters of its last rung (a forest keeps the trees it won with)
    fitted = disturbed.model.steps[-1][1].get_params()
    last_rung = disturbed.plan.params_at(disturbed.best.id, disturbed.best.rung)
    assert {k: fitted[k] for k in last_rung} == last_rung
    # families were searched together, each configuration's rung is in the leaderboard
    families = {c.algorithm for c in disturbed.candidates}
    assert families == {"logistic_regression", "decision_tree_classifier", "random_forest_classifier"}
    rows = disturbed.leaderboard.rows()
    assert all("rung" in r and "resource" in r for r in rows)
    assert any(r["resource"].startswith("n_estimators=") for r in rows)  # forests grow by trees
    assert any(isinstance(e, TaskRetried) for e in events) or len(finished) > 18 * 3


def test_the_live_training_view_shows_each_configurations_rung():
    from types import SimpleNamespace

    from jupyter_stratum.events import PlanReady
    from jupyter_stratum.widgets.training_view import TrainingView

    view = TrainingView(display=False, min_interval=0, plot_interval=0, heartbeat=0)
    plan = SimpleNamespace(n_folds=2, metric="accuracy", candidates=[SimpleNamespace(id="a"), SimpleNamespace(id="b")])
    view(PlanReady(plan, 8))
    for key, cid, fold, score in [
        ("stratum-x-0-r0-0", "a", 0, 0.9),
        ("stratum-x-1-r0-0", "b", 0, 0.5),
        ("stratum-x-0-r0-1", "a", 1, 0.9),
        ("stratum-x-0-r1-0", "a", 0, 0.7),  # promoted: its scores start again at rung 1
    ]:
        view(TaskFinished(key, cid, fold, "w", 0.1, {"accuracy": score}))
    rows = {r["candidate"]: r for r in view.leaderboard_rows()}
    assert (rows["a"]["rung"], rows["a"]["folds"], rows["a"]["mean"]) == (1, 1, 0.7)
    assert (rows["b"]["rung"], rows["b"]["folds"]) == (0, 1)
    assert "<th>rung</th>" in view.leaderboard_html()


TREES = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - random_forest: {n_estimators: randint(20, 60), max_depth: [4, 8, null]}
  - gradient_boosting: {n_estimators: randint(20, 60), max_depth: [2, 3], subsample: [0.7, 1.0]}
  - extra_trees: {n_estimators: randint(20, 60), max_features: uniform(0.2, 0.8)}
  - hist_gradient_boosting: {max_iter: randint(20, 60), max_leaf_nodes: randint(4, 31)}
search: {strategy: halving, candidates: 12, factor: 3, min_resources: 50, seed: 2}
metric: roc_auc
"""


def test_ensembles_grow_by_warm_start_and_score_as_cross_validate_at_that_many_trees(client):
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )

    classes = {
        "hist_gradient_boosting_classifier": HistGradientBoostingClassifier,
        "random_forest_classifier": RandomForestClassifier,
        "gradient_boosting_classifier": GradientBoostingClassifier,
        "extra_trees_classifier": ExtraTreesClassifier,
    }
    result = train(TREES, client=client, register=False)
    plan = result.plan
    X_train, y_train = _train_part()
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(X_train, y_train))
    previous = {(e.candidate_id, e.rung): e for e in result.evaluations}
    warm = 0
    for e in result.evaluations:
        c = plan.candidate(e.candidate_id)
        params = plan.params_at(c.id, e.rung)
        # resource auto: each grows its own count of trees (n_estimators, or max_iter) with the rows' share
        assert e.resource == c.grows == ("max_iter" if "hist" in c.algorithm else "n_estimators")
        assert (
            e.n_resources == params[c.grows] == max(1, int(c.params[c.grows] * plan.schedule.resources[e.rung] / 455))
        )
        model = make_pipeline(StandardScaler(), classes[c.algorithm](**params))
        out = cross_validate(model, X_train, y_train, cv=folds, scoring=["roc_auc", "accuracy"])
        for metric in ("roc_auc", "accuracy"):
            got = [f.scores[metric] for f in e.folds]
            np.testing.assert_allclose(got, out[f"test_{metric}"], rtol=0, atol=1e-9, err_msg=f"{e} {metric}")
        for f in e.folds:
            if f.warm_from is not None:  # grown from the previous rung's model on this fold
                assert e.rung > 0 and f.warm_from == previous[c.id, e.rung - 1].n_resources < e.n_resources
                warm += 1
    promoted_folds = sum(len(e.folds) for e in result.evaluations if e.rung > 0)
    assert promoted_folds > 0 and warm > 0  # the trees were added to the kept models, not refitted
    assert list(client.run(_kept_on_worker).values()) == [0, 0]  # the run's kept models are dropped at its end
    assert [len(rung) for rung in _by_rung(result)] == [12, 4, 2] and plan.schedule.resources == (50, 150, 450)
    assert {c.algorithm for c in result.candidates} == set(classes)


def _by_rung(result):
    rungs: dict[int, list] = {}
    for e in result.evaluations:
        rungs.setdefault(e.rung, []).append(e)
    return [rungs[r] for r in sorted(rungs)]


def test_a_kept_model_grows_its_own_trees():
    """In process: the next rung adds trees to the very model the previous rung kept."""
    from dataclasses import replace

    from jupyter_stratum.training import warm
    from jupyter_stratum.training.estimator import FeatureTypes
    from jupyter_stratum.training.fold import FoldJob, fit_fold

    X, y = _train_part()
    tr, te = np.arange(0, 300), np.arange(300, len(y))
    key = warm.store_key("test", 0, 0)
    job = FoldJob(
        "k", "rf", "random_forest_classifier", {"n_estimators": 5, "random_state": 0}, (), FeatureTypes.of(X),
        "classification", ("accuracy",), 2, 0, n_resources=5, grows="n_estimators", lineage=key, keep=True,
    )  # fmt: skip
    assert fit_fold(job, X, y, tr, te).warm_from is None
    n, model = warm.take(key, 15)
    first = list(model.steps[-1][1].estimators_)
    warm.keep(key, n, model)
    grown = fit_fold(replace(job, rung=1, n_resources=15, params={**job.params, "n_estimators": 15}), X, y, tr, te)
    assert grown.warm_from == 5
    trees = warm.take(key, 45)[1].steps[-1][1].estimators_
    assert len(trees) == 15 and all(a is b for a, b in zip(trees[:5], first))
    assert warm.forget("test") == 0 and warm.kept() == 0

    # early stopping: a model that stopped before its count is not grown (a warm start would go on adding
    # trees where a fit from scratch stops at the same one); the scores are those of a fit from scratch
    early = replace(
        job,
        algorithm="hist_gradient_boosting_classifier",
        params={"max_iter": 40, "learning_rate": 1.0, "early_stopping": True, "n_iter_no_change": 2, "random_state": 0},
        n_resources=40,
        grows="max_iter",
    )
    from sklearn.ensemble import HistGradientBoostingClassifier

    alone = HistGradientBoostingClassifier(**early.params).fit(X.iloc[tr], y.iloc[tr])
    assert alone.n_iter_ < 40 and warm.stopped_early(alone)  # it does stop early on these rows
    fit_fold(early, X, y, tr, te)
    assert warm.kept() == 1 and warm.take(key, 400) is None  # kept, but not to be grown
    fit_fold(early, X, y, tr, te)
    more = replace(early, rung=1, n_resources=400, params={**early.params, "max_iter": 400}, keep=False)
    grown, scratch = fit_fold(more, X, y, tr, te), fit_fold(replace(more, lineage=None), X, y, tr, te)
    assert grown.warm_from is None and grown.scores == scratch.scores
    assert warm.kept() == 0


def _kept_on_worker() -> int:
    from jupyter_stratum.training import warm

    return warm.kept()
