"""From a spec and its data to a plan: candidates × folds = tasks.

A plan is made in the notebook before anything reaches the cluster, so every
mistake in the spec or the data shows up here, with nothing trained.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, SpecError
from ..spec import LineMap, PipelineSpec, check_spec, format_path, summarize_issues


@dataclass
class Candidate:
    """One algorithm with one set of hyperparameters."""

    id: str
    algorithm: str  # catalog name, e.g. random_forest_classifier
    class_name: str
    params: dict  # as given (search values picked), plus random_state from the seed
    resources: dict = field(default_factory=dict)
    source: str = "scikit-learn"

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "algorithm": self.algorithm,
            "class_name": self.class_name,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
            "resources": dict(self.resources),
        }


@dataclass
class PlannedTask:
    key: str
    candidate_id: str
    fold: int
    resources: dict


@dataclass
class Splits:
    """Row positions: the training part, the holdout part, and CV folds within training."""

    train: np.ndarray
    test: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]


@dataclass
class Plan:
    spec: PipelineSpec
    task: str
    metric: str
    metrics: list[str]
    greater_is_better: bool
    candidates: list[Candidate]
    preprocess: list[tuple[str, dict]]
    n_folds: int
    n_rows: int
    n_train: int
    n_test: int
    classes: list | None
    tasks: list[PlannedTask]
    notices: list[str] = field(default_factory=list)
    #: unique per plan: the Dask keys of its tasks are ``stratum-{run_id}-{candidate}-{fold}``
    run_id: str = "plan"
    #: candidate id -> placement.CandidatePlacement, once placed on a cluster (placement.place)
    placement: dict = field(default_factory=dict)
    cluster_text: str | None = None

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def candidate(self, candidate_id: str) -> Candidate:
        return next(c for c in self.candidates if c.id == candidate_id)

    def rows(self) -> list[dict]:
        from .placement import runs_on

        rows = [
            {
                "candidate": c.id,
                "algorithm": c.class_name,
                "folds": self.n_folds,
                "resources": ", ".join(f"{k}={v:g}" for k, v in c.resources.items()) or "any worker",
            }
            for c in self.candidates
        ]
        if self.placement:
            for row, c in zip(rows, self.candidates):
                row["runs on"] = runs_on(self.placement[c.id]) if c.id in self.placement else "?"
        return rows

    def to_text(self) -> str:
        from ..display import text_table

        head = (
            f"Plan: {len(self.candidates)} candidates × {self.n_folds} folds = {self.n_tasks} tasks; "
            f"task {self.task}, select by {self.metric} ({'higher' if self.greater_is_better else 'lower'} is better); "
            f"{self.n_train} training rows, {self.n_test} holdout rows."
            + (f"\nOn the {self.cluster_text}." if self.cluster_text else "")
        )
        notes = "".join(f"\nNote: {n}" for n in self.notices)
        return head + "\n" + text_table(self.rows()) + notes

    def _repr_html_(self) -> str:
        import html

        from ..display import html_table

        return (
            f"<p><b>Plan</b>: {len(self.candidates)} candidates × {self.n_folds} folds = "
            f"<b>{self.n_tasks} tasks</b>; task <code>{self.task}</code>, select by "
            f"<code>{self.metric}</code>; {self.n_train} training rows, {self.n_test} holdout rows."
            + (f" On the {html.escape(self.cluster_text)}." if self.cluster_text else "")
            + "</p>"
            + html_table(self.rows())
            + "".join(f"<p>Note: {n}</p>" for n in self.notices)
        )

    def __repr__(self) -> str:
        return self.to_text()


def _label(model_name: str, params: dict, searched: set[str]) -> str:
    shown = {k: v for k, v in params.items() if k in searched}
    if not shown:
        return model_name
    inner = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in shown.items())
    return f"{model_name}({inner})"


def make_candidates(spec: PipelineSpec, task: str) -> list[Candidate]:
    from ..catalog import resolve

    candidates: list[Candidate] = []
    seen: dict[str, int] = {}
    for model in spec.models:
        algo = resolve(model.algorithm, task=task)
        searched = {k for k, v in model.params.items() if len(algo.expand({k: v})) > 1}
        resources = dict(algo.default_resources)
        resources.update(model.resources)
        for params in algo.expand(model.params):
            params = dict(params)
            if "random_state" in algo.param_names and "random_state" not in params:
                params["random_state"] = spec.split.seed
            cid = _label(model.label or model.algorithm, params, searched)
            if cid in seen:
                seen[cid] += 1
                cid = f"{cid}#{seen[cid]}"
            else:
                seen[cid] = 1
            candidates.append(Candidate(cid, algo.name, algo.class_name, params, resources, algo.source))
    return candidates


def make_splits(y, split, task: str) -> Splits:
    """Holdout split, then CV folds of the training part (stratified for classification)."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    positions = np.arange(len(y))
    stratify = y if task == "classification" else None
    train, test = train_test_split(positions, test_size=split.test_size, random_state=split.seed, stratify=stratify)
    y_train = y.iloc[train]
    splitter = (StratifiedKFold if task == "classification" else KFold)(
        n_splits=split.cv, shuffle=True, random_state=split.seed
    )
    folds = [(tr, te) for tr, te in splitter.split(np.zeros(len(train)), y_train)]
    return Splits(train=train, test=test, folds=folds)


def check_data(dataset, spec: PipelineSpec, task: str) -> None:
    """Data-bound checks: enough rows and classes for the split and the folds."""
    y = dataset.y
    n = len(y)
    n_test = int(np.ceil(spec.split.test_size * n))
    n_train = n - n_test
    if n_train < spec.split.cv or n_test < 1:
        raise DataError(
            f"Only {n} rows: a {spec.split.test_size:g} holdout and cv: {spec.split.cv} "
            "need more. Lower cv or test_size, or use more data."
        )
    if task == "classification":
        counts = y.value_counts()
        if len(counts) < 2:
            raise DataError(
                f"The target '{dataset.target}' has a single class ({counts.index[0]!r}): "
                "classification needs at least two. Check the target column."
            )
        smallest = counts.idxmin()
        need = spec.split.cv + 1  # one for the holdout, cv for the folds
        if counts.min() < need:
            raise DataError(
                f"Class {smallest!r} of '{dataset.target}' has only {counts.min()} row(s); "
                f"a holdout split and cv: {spec.split.cv} need at least {need} per class. "
                "Lower cv, or drop or merge rare classes."
            )
    else:
        import pandas as pd

        if not pd.api.types.is_numeric_dtype(y):
            raise DataError(
                f"The target '{dataset.target}' is not numeric ({y.dtype}), so it can't be "
                "regressed. Use task: classification, or convert the column."
            )


def make_plan(
    spec: PipelineSpec,
    dataset,
    run_id: str | None = None,
    lines: LineMap | None = None,
    checked_for: str | None = None,
) -> Plan:
    """Check the spec against the data and list every task.

    The spec's content (algorithms, params, metrics) is checked here unless it already was for
    this task (``checked_for``: ``parse_spec`` checked it for the task the spec states), so a run
    checks it once, twice only when the task is inferred. ``lines`` maps fields to the lines of
    the user's text; ``run_id`` makes the task keys unique on a shared cluster (default: a fresh one).
    """
    from ..evaluate.metrics import DEFAULT_METRIC, METRICS, metrics_for
    from .data import infer_task

    task = spec.task or infer_task(dataset.y)
    issues = check_spec(spec, task=task, lines=lines) if task != checked_for else []
    run_id = run_id or uuid.uuid4().hex[:8]
    if issues:
        raise SpecError(summarize_issues(issues), issues)
    check_data(dataset, spec, task)
    metric = spec.metric or DEFAULT_METRIC[task]
    metrics = list(dict.fromkeys([metric] + (spec.metrics if spec.metrics is not None else metrics_for(task))))
    candidates = make_candidates(spec, task)
    classes = sorted(dataset.y.unique().tolist(), key=str) if task == "classification" else None
    n_test = int(np.ceil(spec.split.test_size * len(dataset.y)))
    tasks = [
        PlannedTask(f"stratum-{run_id}-{i}-{fold}", c.id, fold, c.resources)
        for i, c in enumerate(candidates)
        for fold in range(spec.split.cv)
    ]
    notices = []
    if classes is not None and len(classes) > 2:
        notices.append(f"{len(classes)} classes: f1/precision/recall are macro averages, roc_auc is one-vs-rest.")
    return Plan(
        spec=spec,
        task=task,
        metric=metric,
        metrics=metrics,
        greater_is_better=METRICS[metric].greater_is_better,
        candidates=candidates,
        preprocess=[(s.name, dict(s.params)) for s in spec.preprocess],
        n_folds=spec.split.cv,
        n_rows=len(dataset.y),
        n_train=len(dataset.y) - n_test,
        n_test=n_test,
        classes=classes,
        tasks=tasks,
        notices=notices,
        run_id=run_id,
    )


__all__ = [
    "Candidate",
    "Plan",
    "PlannedTask",
    "Splits",
    "make_plan",
    "make_splits",
    "make_candidates",
    "check_data",
    "format_path",
]
