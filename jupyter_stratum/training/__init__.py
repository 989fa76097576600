"""Training: spec -> plan -> Dask -> evaluated, registered model.

The modules, in the order a run passes through them:
``run`` (train, dry_run, prepare) -> ``data`` (load, infer the task, fingerprint) -> ``plan``
(candidates x folds) -> ``placement`` (which worker may run what) -> ``cost`` (priorities) ->
``engine`` (Dask) -> ``fold`` (one fold of one candidate, on a worker) -> ``estimator``
(the scikit-learn Pipeline it fits) -> ``results`` (leaderboard, curves, the result object)
-> ``progress`` (events -> counters and text).
"""

from __future__ import annotations

from .run import dry_run, lineage, prepare, train

__all__ = ["dry_run", "lineage", "prepare", "train"]
