"""From a spec and its data to a plan: candidates × folds = tasks.

A plan is made in the notebook before anything reaches the cluster, so every
mistake in the spec or the data shows up here, with nothing trained.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, SpecError
from ..spec import LineMap, PipelineSpec, SpecIssue, check_spec, format_path, summarize_issues
from .halving import Schedule


@dataclass
class Candidate:
    """One algorithm with one set of hyperparameters."""

    id: str
    algorithm: str  # catalog name, e.g. random_forest_classifier
    class_name: str
    params: dict  # as given (search values picked), plus random_state from the seed
    resources: dict = field(default_factory=dict)
    source: str = "scikit-learn"
    #: halving: the parameter this candidate grows by at each rung (n_estimators), None: by rows
    grows: str | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "algorithm": self.algorithm,
            "class_name": self.class_name,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
            "resources": dict(self.resources),
        }

    def at_rung(self, resources: int, schedule) -> tuple[dict, float]:
        """(params, share of the fold rows) of this candidate at a rung giving ``resources``."""
        if self.grows is None:
            return self.params, resources / schedule.max_resources
        params = dict(self.params)
        if schedule.resource == self.grows:  # the user's resource: its value at the rung
            params[self.grows] = resources
        else:  # auto: the candidate's own count, scaled like the rows would be
            full = params.get(self.grows, 100)
            params[self.grows] = max(1, int(full * resources / schedule.max_resources))
        return params, 1.0


@dataclass
class PlannedTask:
    key: str
    candidate_id: str
    fold: int
    resources: dict


@dataclass(frozen=True)
class PlannedRung:
    """One rung of a halving search as planned: how many configurations reach it (the synchronous
    order's count; which ones is known only as the search runs), its tasks and what each gets."""

    rung: int
    configurations: int
    tasks: int  # configurations × folds
    resource: str  # n_samples, or the parameter the schedule is over
    n_resources: int  # rows (or the parameter's value) at this rung
    max_resources: int
    grown: tuple[str, ...] = ()  # the parameters some candidates grow instead of rows (n_estimators, epochs)

    @property
    def share(self) -> float:
        return self.n_resources / self.max_resources

    @property
    def text(self) -> str:
        what = f"{self.n_resources} rows" if self.resource == "n_samples" else f"{self.resource}={self.n_resources}"
        grown = (
            f"; {self.share:.0%} of each configuration's {', '.join(self.grown)} with all the rows"
            if self.grown and self.resource == "n_samples"
            else ""
        )
        return f"rung {self.rung}: {self.configurations} configurations × {what} = {self.tasks} tasks{grown}"


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
    #: halving: the rungs (``plan.tasks`` then lists the first rung's tasks, ``plan.rungs`` every rung)
    schedule: Schedule | None = None
    halving_mode: str = "async"
    search_seed: int = 0

    @property
    def n_tasks(self) -> int:
        """Tasks to run; with halving, as many as the synchronous order runs (ASHA may run a few more)."""
        if self.schedule is not None:
            return sum(self.schedule.expected_evaluations()) * self.n_folds
        return len(self.tasks)

    @property
    def rungs(self) -> list[PlannedRung]:
        """Every rung of a halving search, planned (empty without halving)."""
        if self.schedule is None:
            return []
        grown = tuple(dict.fromkeys(c.grows for c in self.candidates if c.grows))
        return [
            PlannedRung(rung, n, n * self.n_folds, self.schedule.resource, r, self.schedule.max_resources, grown)
            for rung, (n, r) in enumerate(zip(self.schedule.expected_evaluations(), self.schedule.resources))
        ]

    def candidate(self, candidate_id: str) -> Candidate:
        return next(c for c in self.candidates if c.id == candidate_id)

    def params_at(self, candidate_id: str, rung: int) -> dict:
        """A candidate's params at a halving rung (a grown parameter set to that rung's value)."""
        if self.schedule is None:
            raise ValueError("params_at: this plan is not a halving search (it has no rungs)")
        return self.candidate(candidate_id).at_rung(self.schedule.resources[rung], self.schedule)[0]

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

        rungs = ""
        if self.schedule is not None:
            rungs = f"\nHalving ({self.halving_mode}, factor {self.schedule.factor:g}):" + "".join(
                f"\n  {r.text}" for r in self.rungs
            )
        head = (
            f"Plan: {len(self.candidates)} candidates × {self.n_folds} folds = {self.n_tasks} tasks; "
            f"task {self.task}, select by {self.metric} ({'higher' if self.greater_is_better else 'lower'} is better); "
            f"{self.n_train} training rows, {self.n_test} holdout rows."
            + (f"\nOn the {self.cluster_text}." if self.cluster_text else "")
            + rungs
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
            + (
                f"<p>Halving ({self.halving_mode}, factor {self.schedule.factor:g}):</p><ul>"
                + "".join(f"<li>{html.escape(r.text)}</li>" for r in self.rungs)
                + "</ul>"
                if self.schedule is not None
                else ""
            )
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


def _plain(value):
    """numpy scalars (what scipy's distributions draw) as Python numbers."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)) else value


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(list(value) if isinstance(value, tuple) else value)


def sample_candidates(spec: PipelineSpec, task: str, n: int) -> list[Candidate]:
    """``n`` configurations drawn from the models' spaces (seed: ``search.seed``, else ``split.seed``)."""
    from ..catalog import resolve
    from ..catalog.space import sample

    algos = [resolve(m.algorithm, task=task) for m in spec.models]
    spaces = [a.space(m.params) for a, m in zip(algos, spec.models)]
    seed = spec.search.seed if spec.search.seed is not None else spec.split.seed
    candidates: list[Candidate] = []
    seen: dict[str, int] = {}
    for index, params in sample(spaces, n, seed):
        model, algo = spec.models[index], algos[index]
        params = {k: _plain(v) for k, v in params.items()}
        searched = [k for k, v in spaces[index].items() if hasattr(v, "rvs") or len(v) > 1]
        if "random_state" in algo.param_names and "random_state" not in params:
            params["random_state"] = spec.split.seed
        name = model.label or model.algorithm
        cid = f"{name}({', '.join(f'{k}={_short(params[k])}' for k in searched)})" if searched else name
        seen[cid] = seen.get(cid, 0) + 1
        cid = cid if seen[cid] == 1 else f"{cid}#{seen[cid]}"
        resources = {**algo.default_resources, **model.resources}
        grows = _grows(spec, algo)
        default = algo.schema.get("properties", {}).get(grows or "", {}).get("default")
        if grows and grows not in params and isinstance(default, int):
            params[grows] = default  # what the rungs scale (a Keras model's 30 epochs, not 100)
        candidates.append(Candidate(cid, algo.name, algo.class_name, params, resources, algo.source, grows=grows))
    return candidates


def _grows(spec: PipelineSpec, algo) -> str | None:
    """What a candidate grows by in a halving search: the user's resource parameter; with ``auto``, trees
    for ensembles that can add them (``warm_start`` and ``n_estimators``; histogram gradient boosting's
    ``max_iter``, one tree per iteration), epochs for Keras models (``warm_start`` goes on from the last
    epoch); else rows (None)."""
    if spec.search.strategy != "halving":
        return None
    resource = spec.search.resource
    if resource == "auto":
        names = algo.param_names
        if "warm_start" not in names:
            return None
        if "n_estimators" in names:
            return "n_estimators"
        if "epochs" in names and algo.name.startswith("keras_"):
            return "epochs"
        return "max_iter" if algo.class_name.startswith("HistGradientBoosting") else None
    return None if resource == "n_samples" else resource


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
    classes = sorted(dataset.y.unique().tolist(), key=str) if task == "classification" else None
    n_test = int(np.ceil(spec.split.test_size * len(dataset.y)))
    n_train = len(dataset.y) - n_test
    search, schedule = spec.search, None
    if search.strategy == "grid":
        candidates = make_candidates(spec, task)
    elif search.strategy == "random":
        candidates = sample_candidates(spec, task, search.candidates or 10)
    else:
        candidates, schedule = _halving_candidates(spec, task, n_train, len(classes) if classes else None, lines)
    rung = "r0-" if schedule is not None else ""
    tasks = [
        PlannedTask(f"stratum-{run_id}-{i}-{rung}{fold}", c.id, fold, c.resources)
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
        n_train=n_train,
        n_test=n_test,
        classes=classes,
        tasks=tasks,
        notices=notices,
        run_id=run_id,
        schedule=schedule,
        halving_mode=search.mode,
        search_seed=search.seed if search.seed is not None else spec.split.seed,
    )


def _halving_candidates(spec: PipelineSpec, task: str, n_train: int, n_classes: int | None, lines):
    """(candidates, schedule) of a halving search, with scikit-learn's defaults for what is not given."""
    from .halving import default_candidates, make_schedule, smallest_resources

    search = spec.search
    rows = search.resource in ("auto", "n_samples")
    budget = search.budget or n_train if rows else search.budget
    if budget is None:
        path = ("search", "budget")
        issue = SpecIssue(
            path,
            f"give budget: the most {search.resource} a configuration gets (the last rung's {search.resource})",
            (lines or LineMap(spec.to_yaml())).line(path),
        )
        raise SpecError(summarize_issues([issue]), [issue])
    if rows and budget > n_train:
        raise DataError(f"search budget {budget} is more than the {n_train} training rows: lower it, or omit it.")
    smallest = smallest_resources("n_samples" if rows else search.resource, spec.split.cv, n_classes)
    first = search.min_resources if isinstance(search.min_resources, int) else smallest
    if first > budget:
        raise DataError(
            f"Halving starts at {first} {'rows' if rows else search.resource} but the budget is {budget}: "
            "lower min_resources (or cv), raise budget, or use more data."
        )
    n = search.candidates or default_candidates(first, budget)
    candidates = sample_candidates(spec, task, n)
    schedule = make_schedule(
        len(candidates),
        resource="n_samples" if rows else search.resource,
        factor=search.factor,
        min_resources=search.min_resources,
        max_resources=budget,
        smallest=smallest,
    )
    return candidates, schedule


__all__ = [
    "Candidate",
    "Plan",
    "PlannedRung",
    "PlannedTask",
    "Splits",
    "make_plan",
    "make_splits",
    "make_candidates",
    "check_data",
    "format_path",
]
