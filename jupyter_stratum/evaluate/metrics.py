"""The metrics of each task, computed with scikit-learn's own scorers.

Values are reported in their natural sign (mse is positive, lower is better);
``greater_is_better`` says which way selection goes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    task: str  # "classification" | "regression"
    greater_is_better: bool
    #: sklearn scorer name for binary classification / regression
    scorer: str
    #: sklearn scorer name for multiclass (None: same as scorer)
    multiclass_scorer: str | None = None
    #: which prediction the metric needs: "predict", "proba", "proba_or_decision"
    needs: str = "predict"
    description: str = ""

    def scorer_name(self, n_classes: int | None) -> str:
        if n_classes is not None and n_classes > 2 and self.multiclass_scorer:
            return self.multiclass_scorer
        return self.scorer


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", "classification", True, "accuracy", description="share of correct labels"),
        Metric("balanced_accuracy", "classification", True, "balanced_accuracy", description="mean recall per class"),
        Metric("f1", "classification", True, "f1", "f1_macro", description="F1 (macro when multiclass)"),
        Metric(
            "precision",
            "classification",
            True,
            "precision",
            "precision_macro",
            description="precision (macro when multiclass)",
        ),
        Metric(
            "recall", "classification", True, "recall", "recall_macro", description="recall (macro when multiclass)"
        ),
        Metric(
            "roc_auc",
            "classification",
            True,
            "roc_auc",
            "roc_auc_ovr",
            needs="proba_or_decision",
            description="area under the ROC curve (one-vs-rest when multiclass)",
        ),
        Metric(
            "log_loss",
            "classification",
            False,
            "neg_log_loss",
            needs="proba",
            description="cross-entropy of predicted probabilities",
        ),
        Metric("r2", "regression", True, "r2", description="coefficient of determination"),
        Metric("mse", "regression", False, "neg_mean_squared_error", description="mean squared error"),
        Metric("rmse", "regression", False, "neg_root_mean_squared_error", description="root mean squared error"),
        Metric("mae", "regression", False, "neg_mean_absolute_error", description="mean absolute error"),
    ]
}

DEFAULT_METRIC = {"classification": "accuracy", "regression": "r2"}


def metrics_for(task: str) -> list[str]:
    return [m.name for m in METRICS.values() if m.task == task]


def can_compute(metric: Metric, estimator) -> bool:
    """Whether ``estimator`` (fitted or not) offers the prediction ``metric`` needs."""
    if metric.needs == "proba":
        return hasattr(estimator, "predict_proba")
    if metric.needs == "proba_or_decision":
        return hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")
    return True


def score_all(estimator, X, y, names: list[str], n_classes: int | None) -> dict[str, float]:
    """Score a fitted estimator on (X, y) for every metric it can compute.

    Uses sklearn's multi-metric scorer (the one ``cross_validate`` uses), so the
    values equal ``cross_validate``'s on the same folds.
    """
    from sklearn.metrics import check_scoring

    usable = [METRICS[n] for n in names if can_compute(METRICS[n], estimator)]
    if not usable:
        return {}
    scoring = {m.name: m.scorer_name(n_classes) for m in usable}
    try:
        raw = check_scoring(estimator, scoring=scoring)(estimator, X, y)
    except ValueError:
        # a metric that can't be computed on these rows (log_loss on a test fold with a single class,
        # as a halving search's small first rung can have) is NaN, as cross_validate's error_score=nan
        # makes it; the others keep their values
        raw = {}
        for m in usable:
            try:
                raw[m.name] = check_scoring(estimator, scoring=scoring[m.name])(estimator, X, y)
            except ValueError as exc:
                warnings.warn(f"{m.name} can't be computed on {len(y)} rows: {exc}", UserWarning, stacklevel=2)
                raw[m.name] = math.nan
    out = {}
    for m in usable:
        value = float(raw[m.name])
        out[m.name] = value if m.scorer.startswith("neg_") is False else -value
    return out
