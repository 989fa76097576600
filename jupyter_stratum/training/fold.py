"""The function each Dask task runs on a worker: fit one candidate on one fold.

Kept free of Dask imports at module level so that it also runs in-process
(refit, tests); on a worker it reports its start through the worker's event log.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .estimator import FeatureTypes
from .results import FoldResult


@dataclass(frozen=True)
class FoldJob:
    """What a worker needs besides the (scattered) data."""

    key: str
    candidate_id: str
    algorithm: str
    params: dict
    preprocess: tuple
    features: FeatureTypes
    task: str
    metrics: tuple
    n_classes: int | None
    fold: int
    topic: str | None = None
    image_shape: tuple | None = None
    attempt: int = 1
    rung: int = 0  # halving: the rung, and the resource it gives (rows or the grown parameter)
    n_resources: int | None = None
    #: halving by trees: the parameter grown, the configuration-and-fold key of the worker's store
    #: (:mod:`.warm`), and whether to keep the fitted pipeline there for the next rung
    grows: str | None = None
    lineage: str | None = None
    keep: bool = False


def worker_address() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def worker_name() -> str:
    try:
        from distributed import get_worker

        from ..cluster.client import worker_label

        return worker_label(get_worker().name)
    except (ImportError, ValueError):
        return "local"


def _announce(job: FoldJob, worker: str) -> None:
    if not job.topic:
        return
    try:
        from distributed import get_worker

        get_worker().log_event(
            job.topic,
            {
                "event": "started",
                "key": job.key,
                "candidate_id": job.candidate_id,
                "fold": job.fold,
                "worker_name": worker,
                "attempt": job.attempt,
            },
        )
    except (ImportError, ValueError):
        pass


def predictions(estimator, X):
    """(y_pred, y_score, score_kind): labels and the scores curves are drawn from."""
    y_pred = np.asarray(estimator.predict(X))
    if hasattr(estimator, "predict_proba"):
        return y_pred, np.asarray(estimator.predict_proba(X)), "proba"
    if hasattr(estimator, "decision_function"):
        return y_pred, np.asarray(estimator.decision_function(X)), "decision"
    return y_pred, None, None


def training_history(estimator) -> dict | None:
    """The final step's ``history_`` (per-epoch loss/metrics, e.g. Keras), if it keeps one."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    history = getattr(final, "history_", None)
    return dict(history) if isinstance(history, dict) else None


def fit_fold(job: FoldJob, X, y, train_positions, test_positions) -> FoldResult:
    """Fit the candidate on the fold's training rows; score it on the fold's test rows.

    ``X``/``y`` are the training part; positions index into them.
    """
    from ..evaluate.metrics import score_all
    from . import warm
    from .estimator import build_estimator

    worker = worker_name()
    _announce(job, worker)
    grows, lineage, n_resources = job.grows, job.lineage, job.n_resources
    growing = bool(grows and lineage and n_resources is not None)
    kept = warm.take(lineage, n_resources) if growing and job.rung > 0 else None  # type: ignore[arg-type]
    if kept is not None:  # add trees to the previous rung's model (the same as a fit from scratch)
        warm_from, estimator = kept[0], warm.grow(kept[1], grows, n_resources)  # type: ignore[arg-type]
    else:
        warm_from = None
        estimator = build_estimator(
            job.algorithm, job.params, list(job.preprocess), job.features, job.task, job.image_shape
        )
    X_tr, y_tr = X.iloc[train_positions], y.iloc[train_positions]
    X_te, y_te = X.iloc[test_positions], y.iloc[test_positions]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(X_tr, y_tr)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        scores = score_all(estimator, X_te, y_te, list(job.metrics), job.n_classes)
        if job.task == "classification":
            y_pred, y_score, kind = predictions(estimator, X_te)
        else:
            y_pred, y_score, kind = np.asarray(estimator.predict(X_te)), None, None
        score_seconds = time.perf_counter() - start
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    if job.keep and growing:
        warm.keep(lineage, n_resources, estimator)  # type: ignore[arg-type]
    return FoldResult(
        candidate_id=job.candidate_id,
        fold=job.fold,
        scores=scores,
        fit_seconds=fit_seconds,
        score_seconds=score_seconds,
        worker=worker,
        test_positions=np.asarray(test_positions),
        y_pred=y_pred,
        y_score=y_score,
        score_kind=kind,
        attempt=job.attempt,
        warnings=messages[:5],
        history=training_history(estimator),
        rung=job.rung,
        n_resources=job.n_resources,
        warm_from=warm_from,
        worker_address=worker_address(),
    )


def refit(algorithm: str, params: dict, preprocess: tuple, features, task: str, X, y, image_shape=None):
    """Fit the winner on the whole training part; returns (estimator, seconds, worker)."""
    from .estimator import build_estimator

    estimator = build_estimator(algorithm, params, list(preprocess), features, task, image_shape)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # already reported once per candidate during CV
        estimator.fit(X, y)
    return estimator, time.perf_counter() - start, worker_name()
