"""A rough cost per candidate, so the engine can start the expensive folds first.

Why: Dask starts ready tasks in priority order. Submitted in plan order, the
folds of an expensive candidate (say a 5 s gradient boosting) may be the last to
start and leave the other workers idle while they finish (the tail). Starting the
longest tasks first (the classic "longest processing time first" rule) keeps the
tail short. The order never changes results: every fold is fitted the same way.

The estimate is in "row passes" (one pass of a linear model over the training
rows = 1 per row), by the estimator class and its parameters (the spec's, else
the estimator's defaults):

- boosting (``*Boosting*``, ``AdaBoost*``): rows × rounds × 2 (sequential rounds
  of trees on every feature); ``HistGradientBoosting*``: rows × max_iter × 0.5
  (binned, multi-threaded);
- other ensembles with ``n_estimators`` (forests, extra trees, bagging): rows × trees × 0.5;
- kernel methods and neighbours (``SVC``, ``SVR``, ``NuSV*``, ``KernelRidge``,
  ``GaussianProcess*``, ``*Neighbors*``, ``LabelPropagation``/``LabelSpreading``):
  rows² / 1000 (cheap on a few hundred rows, the costliest on many);
- neural nets: Keras templates rows × epochs × 2, scikit-learn's ``MLP*`` rows × max_iter × 0.5;
- everything else (linear models, single trees, naive Bayes ...): rows.

Only the order matters: :func:`task_priorities` turns the estimates into small
integer ranks (0 = cheapest), which the engine passes as ``priority=`` to
``Client.submit`` (higher runs first; equal ranks keep submission order) and
submits in (the first tasks go straight to idle workers, before the rest arrive).
Fit times measured earlier are not used: the registry has them only in the lineage
of registered runs (their leaderboard), measured on other data and other workers.
"""

from __future__ import annotations

import inspect

_KERNEL_OR_NEIGHBOURS = ("SVC", "SVR", "NuSVC", "NuSVR", "KernelRidge", "LabelPropagation", "LabelSpreading")


def _params_with_defaults(algorithm: str, params: dict) -> dict:
    """The candidate's params over the estimator's defaults (from its constructor's signature)."""
    from ..catalog import lookup

    defaults: dict = {}
    for algo in lookup(algorithm):
        if algo.name == algorithm:
            try:
                signature = inspect.signature(algo.factory)
            except (TypeError, ValueError):
                break
            defaults = {
                name: p.default for name, p in signature.parameters.items() if p.default is not inspect.Parameter.empty
            }
            break
    return {**defaults, **params}


def _number(value, fallback: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else fallback


def estimate_cost(algorithm: str, class_name: str, params: dict, n_rows: int) -> float:
    """Estimated work of fitting (and scoring) one fold, in row passes; see the module docstring."""
    p = _params_with_defaults(algorithm, params)
    rows = float(max(n_rows, 1))
    if class_name.startswith("HistGradientBoosting"):
        return rows * _number(p.get("max_iter"), 100) * 0.5
    if "Boosting" in class_name:
        return rows * _number(p.get("n_estimators"), 100) * 2
    if "n_estimators" in p:
        return rows * _number(p.get("n_estimators"), 100) * 0.5
    if class_name in _KERNEL_OR_NEIGHBOURS or class_name.startswith("GaussianProcess") or "Neighbors" in class_name:
        return rows * rows / 1000
    if "epochs" in p:
        return rows * _number(p.get("epochs"), 30) * 2
    if class_name.startswith("MLP"):
        return rows * _number(p.get("max_iter"), 200) * 0.5
    return rows


def task_priorities(candidates, n_rows: int) -> dict[str, int]:
    """Candidate id -> Dask priority: the rank of its estimated cost (0 = cheapest; ties share a rank)."""
    costs = {c.id: estimate_cost(c.algorithm, c.class_name, c.params, n_rows) for c in candidates}
    ranks = {cost: rank for rank, cost in enumerate(sorted(set(costs.values())))}
    return {cid: ranks[cost] for cid, cost in costs.items()}
