"""What a training run returns: per-fold, per-candidate and whole-run results.

Results keep the data plots need (out-of-fold predictions, holdout predictions)
and compute curves on demand with scikit-learn's own functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FoldResult:
    """One (candidate, fold) fitted on a worker and scored on the fold's test rows."""

    candidate_id: str
    fold: int
    scores: dict[str, float]
    fit_seconds: float
    score_seconds: float
    worker: str
    test_positions: np.ndarray  # positions within the training part
    y_pred: np.ndarray
    y_score: np.ndarray | None  # probabilities (n, n_classes) or decision values
    score_kind: str | None = None  # "proba" | "decision" | None
    attempt: int = 1
    warnings: list[str] = field(default_factory=list)
    #: per-epoch loss/metrics of models that keep a training history (Keras), else None
    history: dict | None = None
    rung: int = 0  # halving: the rung and the resource (rows or trees) it was trained with
    n_resources: int | None = None
    #: halving by trees: the trees of the previous rung's model this fit added to (None: fitted from scratch)
    warm_from: int | None = None
    worker_address: str | None = None  # where it ran (Dask), so the next rung can run there too


@dataclass
class CandidateResult:
    """A candidate's folds, summary scores and out-of-fold predictions."""

    id: str
    algorithm: str
    class_name: str
    params: dict
    resources: dict
    folds: list[FoldResult] = field(default_factory=list)
    error: str | None = None
    #: the true labels of the training part (shared by every candidate)
    y_train: Any = None
    classes: list | None = None
    #: halving: every rung this candidate was evaluated at (halving_run.RungEvaluation), lowest first;
    #: ``folds`` are those of the last one
    rungs: list = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def rung(self) -> int:
        """The highest rung reached (0 outside a halving search)."""
        return self.rungs[-1].rung if self.rungs else 0

    @property
    def n_resources(self) -> int | None:
        """The resource of the highest rung reached (rows or trees), None outside a halving search."""
        return self.rungs[-1].n_resources if self.rungs else None

    def fold_scores(self, metric: str) -> list[float]:
        return [f.scores.get(metric, math.nan) for f in sorted(self.folds, key=lambda f: f.fold)]

    def mean(self, metric: str) -> float:
        values = self.fold_scores(metric)
        return float(np.mean(values)) if values else math.nan

    def std(self, metric: str) -> float:
        values = self.fold_scores(metric)
        return float(np.std(values)) if values else math.nan

    @property
    def fit_seconds(self) -> float:
        return float(sum(f.fit_seconds for f in self.folds))

    @property
    def workers(self) -> list[str]:
        return sorted({f.worker for f in self.folds})

    @property
    def histories(self) -> list[dict]:
        """Training history (loss/metrics per epoch) of each fold, for models that keep one."""
        return [f.history for f in sorted(self.folds, key=lambda f: f.fold) if f.history]

    # ---- out-of-fold predictions (what the curves are drawn from) ----------
    def _oof(self, attr: str):
        folds = sorted(self.folds, key=lambda f: f.fold)
        if not folds or getattr(folds[0], attr) is None:
            return None
        order = np.concatenate([f.test_positions for f in folds])
        values = np.concatenate([np.asarray(getattr(f, attr)) for f in folds])
        return values[np.argsort(order, kind="stable")]  # back to training-part order

    @property
    def oof_positions(self) -> np.ndarray:
        return np.sort(np.concatenate([f.test_positions for f in self.folds]))

    @property
    def y_true(self) -> np.ndarray:
        return np.asarray(self.y_train)[self.oof_positions]

    @property
    def y_pred(self):
        return self._oof("y_pred")

    @property
    def y_score(self):
        return self._oof("y_score")

    def roc_curve(self, pos_label=None) -> dict | None:
        """ROC points of the out-of-fold scores: {fpr, tpr, auc} (one-vs-rest for ``pos_label``)."""
        from ..evaluate.curves import roc_points

        return roc_points(self.y_true, self.y_score, self.classes, pos_label)

    def pr_curve(self, pos_label=None) -> dict | None:
        from ..evaluate.curves import pr_points

        return pr_points(self.y_true, self.y_score, self.classes, pos_label)

    def confusion_matrix(self, normalize: str | None = None) -> np.ndarray:
        from sklearn.metrics import confusion_matrix

        return confusion_matrix(self.y_true, self.y_pred, labels=self.classes, normalize=normalize)

    def residuals(self) -> dict:
        y_true = np.asarray(self.y_true, dtype=float)
        y_pred = np.asarray(self.y_pred, dtype=float)
        return {"y_true": y_true, "y_pred": y_pred, "residual": y_true - y_pred}


@dataclass
class TrainingResult:
    """Everything a run produced; displayed as a leaderboard."""

    name: str | None
    plan: Any
    candidates: list[CandidateResult]
    leaderboard: Any  # evaluate.leaderboard.Leaderboard
    best: CandidateResult | None
    model: Any  # the winner refit on the whole training part
    holdout_scores: dict[str, float]
    holdout: dict  # y_true, y_pred, y_score of the holdout part
    seconds: float
    version: Any = None  # registry ModelVersion once registered
    events: list = field(default_factory=list)
    cluster: dict = field(default_factory=dict)
    data_fingerprint: str = ""
    input_schema: dict = field(default_factory=dict)
    #: with constraints: each finalist's latency and size (evaluate.constraints.Footprint), and the one
    #: chosen (the best that fits; None when none does)
    footprints: list = field(default_factory=list)
    chosen: Any = None

    def pareto_front(self) -> list:
        """Finalists no other beats on score, latency and size (empty without constraints)."""
        from ..evaluate.constraints import pareto_front
        from ..evaluate.metrics import METRICS

        return pareto_front(self.footprints, METRICS[self.metric].greater_is_better)

    def footprint_text(self) -> str:
        """The measured finalists as a table (empty without constraints)."""
        if not self.footprints:
            return ""
        from ..display import text_table
        from ..evaluate.constraints import footprint_rows

        return "Deployment footprint (single-row latency, serialized size)\n" + text_table(
            footprint_rows(self.footprints, self.chosen)
        )

    @property
    def task(self) -> str:
        return self.plan.task

    @property
    def metric(self) -> str:
        return self.plan.metric

    @property
    def classes(self):
        return self.plan.classes

    @property
    def evaluations(self) -> list:
        """Every (configuration, rung) a halving search evaluated, by rung then configuration
        (``halving_run.RungEvaluation``); empty for grid and random search."""
        return sorted((e for c in self.candidates for e in c.rungs), key=lambda e: e.rung)

    def candidate(self, candidate_id: str) -> CandidateResult:
        for c in self.candidates:
            if c.id == candidate_id:
                return c
        raise KeyError(f"No candidate {candidate_id!r}; candidates: {[c.id for c in self.candidates]}")

    def predict(self, X):
        return self.model.predict(X)

    @property
    def run_seconds(self) -> float:
        """Seconds the tasks took on the cluster (what the live view shows at the end); ``seconds``
        adds loading the data, the refit and registering."""
        from ..events import RunFinished

        return next((e.seconds for e in reversed(self.events) if isinstance(e, RunFinished)), self.seconds)

    def summary(self) -> str:
        from ..display import fmt_seconds

        reg = f" Registered as {self.version.ref}." if self.version is not None else ""
        hold = ", ".join(f"{k} {v:.4f}" for k, v in self.holdout_scores.items())
        best = self.best.id if self.best else "none"
        return (
            f"Best: {best} — holdout {hold}. {len(self.candidates)} candidates, "
            f"{self.plan.n_tasks} tasks in {fmt_seconds(self.run_seconds)} "
            f"({fmt_seconds(self.seconds)} with the data, refit and registry).{reg}"
        )

    def to_text(self) -> str:
        footprint = self.footprint_text()
        return self.leaderboard.to_text() + "\n" + (footprint + "\n" if footprint else "") + self.summary()

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        import html

        return self.leaderboard._repr_html_() + f"<p>{html.escape(self.summary())}</p>"

    # ---- views (jupyter_stratum.widgets; Bokeh and ipywidgets load only here) ----
    def view(self):
        """The evaluation view (ipywidgets tabs of Bokeh plots): leaderboard, ROC/PR, confusion
        matrix or regression plots, CV spread, cost."""
        from ..widgets.evaluation_view import EvaluationView

        return EvaluationView(self)

    def show(self) -> None:
        """Display the evaluation view (with an HTML/text leaderboard where widgets can't render)."""
        from IPython.display import display

        display(self.view())

    def report(self, path="report.html"):
        """Write a self-contained HTML report (Bokeh, inlined) with the evaluation view's plots."""
        from ..widgets.report import write_report

        return write_report(self, path)

    def _repr_mimebundle_(self, include=None, exclude=None):
        # the evaluation view inside a kernel; elsewhere (terminal IPython, plain
        # Python) only the HTML and text leaderboard, never a widget that can't render
        from ..widgets.evaluation_view import fallback_bundle, widgets_available

        if not widgets_available():
            return fallback_bundle(self)
        try:
            return self.view()._repr_mimebundle_(include=include, exclude=exclude)
        except Exception as exc:  # noqa: BLE001 - a broken plot must not hide the result
            import html

            bundle = fallback_bundle(self)
            bundle["text/html"] += f"<p><i>(evaluation view unavailable: {html.escape(repr(exc))})</i></p>"
            return bundle
