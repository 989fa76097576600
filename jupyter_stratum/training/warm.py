"""Warm starts across halving rungs: an ensemble that grows by trees adds trees to the model it had.

A worker keeps each (run, configuration, fold)'s fitted pipeline after a rung that is not the last; when
the configuration is promoted, the next rung's task on that worker takes it, raises the grown parameter
(``n_estimators``) and fits with ``warm_start=True``, which fits only the new trees. scikit-learn's
forests, extra trees, bagging and gradient boosting draw the new trees' seeds after the old ones', so the
grown model is the one a fit from scratch at the larger count gives (the tests compare it with
``cross_validate`` to 1e-9). That makes the store a cache: a task that finds nothing (another worker, a
restarted one, an evicted entry) fits from scratch and gets the same scores.

The store is per worker process, bounded (least recently kept goes first) and cleared at the end of a run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

#: most fitted pipelines a worker process keeps for later rungs
MAX_KEPT = 64

_lock = threading.Lock()
_kept: OrderedDict[str, tuple[int, object]] = OrderedDict()


def store_key(run_id: str, index: int, fold: int) -> str:
    """The store's key: one configuration on one fold of one run (the same at every rung)."""
    return f"stratum-{run_id}-{index}-{fold}"


def keep(key: str, n_resources: int, estimator) -> None:
    """Keep a fitted pipeline, grown to ``n_resources``, for the configuration's next rung."""
    with _lock:
        _kept[key] = (n_resources, estimator)
        _kept.move_to_end(key)
        while len(_kept) > MAX_KEPT:
            _kept.popitem(last=False)


def take(key: str, below: int):
    """(n_resources, fitted pipeline) kept for ``key`` with fewer than ``below``, removed from the store;
    None if there is none, or if it stopped early (then a fit from scratch stops at the same tree, while
    a warm start would go on adding trees)."""
    with _lock:
        entry = _kept.pop(key, None)
    if entry is None or entry[0] >= below or stopped_early(entry[1]):
        return None
    return entry


def stopped_early(estimator) -> bool:
    """Whether the final step's early stopping ended it before its count of trees (histogram gradient
    boosting's ``n_iter_`` < ``max_iter``, gradient boosting's ``n_estimators_`` < ``n_estimators``)."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    for done, asked in (("n_iter_", "max_iter"), ("n_estimators_", "n_estimators")):
        if hasattr(final, done) and getattr(final, asked, None) is not None:
            return getattr(final, done) < getattr(final, asked)
    return False


def forget(run_id: str) -> int:
    """Drop every pipeline kept for ``run_id``; how many there were."""
    prefix = f"stratum-{run_id}-"
    with _lock:
        keys = [k for k in _kept if k.startswith(prefix)]
        for k in keys:
            del _kept[k]
    return len(keys)


def kept() -> int:
    """How many pipelines this process keeps."""
    with _lock:
        return len(_kept)


def grow(estimator, parameter: str, n_resources: int):
    """Set the final step to add trees up to ``n_resources`` on its next fit."""
    estimator.set_params(**{f"model__{parameter}": n_resources, "model__warm_start": True})
    return estimator
