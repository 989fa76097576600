"""`train()`: spec -> plan -> Dask -> leaderboard -> refit -> holdout -> registry.

Nothing is registered unless the whole run succeeds: a failed or interrupted
run leaves the registry as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TrainingError
from ..events import ModelRegistered, Notice, PlanReady, RefitFinished
from ..jsonsafe import to_jsonable
from ..spec import LineMap, PipelineSpec, known_task, parse_spec

if TYPE_CHECKING:
    from .results import TrainingResult


def _as_spec(spec: str | dict | PipelineSpec | Path) -> tuple[PipelineSpec, LineMap | None, str | None]:
    """(spec, where its fields are in the text, the task its content was checked for).

    Text and dicts are checked at once, before any data is loaded (a typo in an algorithm name
    is reported even when the data is missing), for the task the spec states; ``make_plan``
    checks again only when the task is inferred from the data.
    """
    if isinstance(spec, Path):
        from ..errors import SpecError

        try:
            spec = spec.read_text()
        except OSError as exc:
            raise SpecError(f"Cannot read the spec file {spec}: {exc.strerror}. Check the path.") from None
    if isinstance(spec, PipelineSpec):
        return spec, None, None
    lines = LineMap(spec) if isinstance(spec, str) else None
    parsed = parse_spec(spec)
    return parsed, lines, known_task(parsed)


def prepare(spec, *, user_ns: dict | None = None, base_dir: str | Path | None = None):
    """(spec, dataset, plan): everything checked, nothing sent to a cluster."""
    from .data import load_dataset
    from .plan import make_plan

    spec, lines, checked_for = _as_spec(spec)
    dataset = load_dataset(spec.data, spec.target, user_ns, base_dir)
    plan = make_plan(spec, dataset, lines=lines, checked_for=checked_for)
    return spec, dataset, plan


def dry_run(
    spec, *, user_ns: dict | None = None, base_dir: str | Path | None = None, client=None, cluster: str | None = None
):
    """The plan (candidates, folds, tasks, resources, where each runs) without training anything."""
    from .placement import cluster_for_plan, place

    plan = prepare(spec, user_ns=user_ns, base_dir=base_dir)[2]
    place(plan, cluster_for_plan(client, cluster))
    return plan


def train(
    spec,
    name: str | None = None,
    *,
    user_ns: dict | None = None,
    base_dir: str | Path | None = None,
    client=None,
    cluster: str | None = None,
    on_event: Callable[[Any], None] | None = None,
    register: bool = True,
    registry=None,
    lineage_extra: dict | None = None,
) -> TrainingResult:
    """Train every candidate of ``spec`` on Dask, pick the best, refit, score on the holdout, register.

    ``spec`` is YAML text, a dict, a :class:`PipelineSpec` or a Path to a YAML file.
    ``name`` registers the best model under that name (skipped when None or
    ``register=False``). Events go to ``on_event`` as they happen.
    """
    from ..cluster.client import cluster_info, connect
    from ..evaluate.leaderboard import Leaderboard
    from ..evaluate.metrics import score_all
    from .data import fingerprint, input_schema
    from .engine import check_resources, run_plan
    from .fold import predictions, refit
    from .placement import place
    from .plan import make_splits
    from .results import CandidateResult, TrainingResult

    started = time.perf_counter()
    events: list = []

    def emit(event):
        events.append(event)
        if on_event is not None:
            on_event(event)

    if register and name is not None:
        from ..registry import open_registry

        registry = registry or open_registry()  # fail on a bad registry before any work
        _check_name(name)
    spec, dataset, plan = prepare(spec, user_ns=user_ns, base_dir=base_dir)
    splits = make_splits(dataset.y, spec.split, plan.task)
    client = client or connect(cluster)
    info = cluster_info(client)
    place(plan, info)  # Keras candidates ask for GPU where a worker offers it
    check_resources(plan, info)
    for notice in plan.notices:
        emit(Notice(notice))
    emit(PlanReady(plan, plan.n_tasks, info.dashboard_link))

    if plan.schedule is not None:
        from .halving_run import run_halving

        out = run_halving(plan, dataset, splits, client, on_event=emit)
    else:
        out = run_plan(plan, dataset, splits, client, on_event=emit)
    y_train = np.asarray(dataset.y.iloc[splits.train])
    candidates = []
    for c in plan.candidates:
        candidates.append(
            CandidateResult(
                id=c.id,
                algorithm=c.algorithm,
                class_name=c.class_name,
                params=c.params,
                resources=c.resources,
                folds=sorted(out.folds[c.id], key=lambda f: f.fold),
                error=out.errors.get(c.id),
                y_train=y_train,
                classes=plan.classes,
                rungs=(out.rungs or {}).get(c.id, []),
            )
        )
    for c in candidates:
        for message in dict.fromkeys(w for f in c.folds for w in f.warnings):
            emit(Notice(f"{c.id}: {message}", level="warning"))
    leaderboard = Leaderboard.build(candidates, plan.metric, plan.metrics)
    best = leaderboard.best
    if best is None:
        details = "; ".join(f"{c.id}: {c.error}" for c in candidates if c.error) or "no scores"
        raise TrainingError(f"Every candidate failed, nothing was registered. {details}")

    # refit the winner on the whole training part, where its resources are (with its last rung's
    # parameters: a halving winner grown by trees keeps the trees it won with, as scikit-learn's does);
    # with constraints every finalist is refit (in parallel) and measured, and the best that fits wins
    finalists = _finalists(leaderboard, best) if spec.constraints is not None else [best]
    X_future, y_future = out.data
    futures = {
        c.id: client.submit(
            refit,
            c.algorithm,
            plan.params_at(c.id, c.rung) if c.rungs else c.params,
            tuple(plan.preprocess),
            out.features,
            plan.task,
            X_future,
            y_future,
            tuple(dataset.image_shape) if dataset.image_shape else None,
            resources=c.resources or None,
            pure=False,
        )
        for c in finalists
    }
    try:
        refits = {cid: f.result() for cid, f in futures.items()}
    except KeyboardInterrupt:
        client.cancel(list(futures.values()))
        raise TrainingError("Interrupted during the refit; nothing was registered.") from None
    finally:
        del X_future, y_future
        out.data = (None, None)  # the last references to the scattered training data
    footprints, chosen = [], None
    if spec.constraints is not None:
        from ..evaluate.constraints import choose, measure

        sample = dataset.X.iloc[splits.test].head(50)
        limits = spec.constraints
        footprints = [
            measure(
                c.id,
                c.mean(plan.metric),
                refits[c.id][0],
                sample,
                plan.task,
                latency_ms=limits.latency_ms,
                size_mb=limits.size_mb,
            )
            for c in finalists
        ]
        chosen = choose(footprints)
        for f in footprints:
            if not f.fits:
                emit(Notice(f"{f.candidate_id} misses the constraints: {', '.join(f.misses)}", level="warning"))
        if chosen is None:
            emit(Notice("No finalist fits the constraints; keeping the best score. Relax them or add smaller models."))
        else:
            best = next(c for c in finalists if c.id == chosen.candidate_id)
    model, refit_seconds, refit_worker = refits[best.id]
    X_test, y_test = dataset.X.iloc[splits.test], dataset.y.iloc[splits.test]
    n_classes = len(plan.classes) if plan.classes is not None else None
    holdout_scores = score_all(model, X_test, y_test, plan.metrics, n_classes)
    if plan.task == "classification":
        y_pred, y_score, _ = predictions(model, X_test)
    else:
        y_pred, y_score = np.asarray(model.predict(X_test)), None
    holdout = {"y_true": np.asarray(y_test), "y_pred": y_pred, "y_score": y_score, "positions": splits.test}
    emit(RefitFinished(best.id, refit_seconds, refit_worker, holdout_scores))

    result = TrainingResult(
        name=name,
        plan=plan,
        candidates=candidates,
        leaderboard=leaderboard,
        best=best,
        model=model,
        holdout_scores=holdout_scores,
        holdout=holdout,
        seconds=time.perf_counter() - started,
        events=events,
        cluster=info.to_json(),
        data_fingerprint=fingerprint(dataset.X, dataset.y),
        input_schema=input_schema(dataset.X, dataset.image_shape),
        footprints=footprints,
        chosen=chosen,
    )
    if register and name is not None:
        fields = lineage(result, spec, X_test)
        if not dataset.image_shape:  # drift's reference: the training part's columns, the holdout's predictions
            from ..supervise.reference import reference_statistics

            X_train = dataset.X.iloc[splits.train]
            fields["reference"] = reference_statistics(X_train, holdout["y_pred"], task=plan.task)
        fields.update(lineage_extra or {})  # e.g. a retrain's parent and reason (kept under extra)
        version = registry.register(name, model, lineage=fields, flavor=flavor_of(model))
        result.version = version
        emit(ModelRegistered(version.name, version.version, version.ref))
    return result


def _fitted_params(result) -> dict:
    """The winner's params as fitted: a halving winner grown by a parameter (n_estimators) keeps the value
    of its last rung, not the one drawn."""
    params = dict(result.best.params)
    if result.best.rungs and result.plan.schedule is not None:
        params = result.plan.params_at(result.best.id, result.best.rung)
    return params


def _finalists(leaderboard, best, most: int = 5) -> list:
    """The candidates measured for deployment: the scored ones of the best's rung (a halving search's
    top rung), best first, at most ``most``."""
    return [c for c in leaderboard.candidates if not c.failed and c.folds and c.rung == best.rung][:most]


def _check_name(name: str) -> None:
    """Fail before training, with the registry's own rule (``registry.refs``), not after it."""
    from ..errors import RegistryError, SpecError
    from ..registry.refs import NAME_RULE, validate_name

    try:
        validate_name(name)
    except RegistryError:
        raise SpecError(f"Invalid model name {name!r}: use {NAME_RULE} (e.g. churn, churn-v2).") from None


def flavor_of(model) -> str:
    """How the registry stores this model ("sklearn", or a flavor a plugin declares)."""
    return (
        getattr(model, "stratum_flavor", None)
        or getattr(getattr(model, "steps", [[None, None]])[-1][1], "stratum_flavor", None)
        or "sklearn"
    )


def lineage(result, spec: PipelineSpec, X_test) -> dict:
    """What the registry keeps with the model version."""
    best, plan = result.best, result.plan
    sample = X_test.head(5)
    records = json.loads(sample.to_json(orient="records"))
    expected = to_jsonable(np.asarray(result.model.predict(sample)).tolist())
    return {
        "algorithm": best.class_name,
        "params": to_jsonable({k: list(v) if isinstance(v, tuple) else v for k, v in _fitted_params(result).items()}),
        "task": plan.task,
        "metric": plan.metric,
        "cv_score": best.mean(plan.metric),
        "holdout_score": result.holdout_scores.get(plan.metric),
        "cv_scores": {
            m: {"mean": best.mean(m), "std": best.std(m), "folds": best.fold_scores(m)}
            for m in plan.metrics
            if best.fold_scores(m)
        },
        "holdout_scores": dict(result.holdout_scores),
        "spec_yaml": spec.to_yaml(),
        "data_fingerprint": result.data_fingerprint,
        "input_schema": result.input_schema,
        "classes": to_jsonable(plan.classes) if plan.classes is not None else None,
        "duration_s": result.seconds,
        "candidate_id": best.id,
        "n_candidates": len(result.candidates),
        "data_source": spec.data,
        "leaderboard": to_jsonable(result.leaderboard.rows()),
        "sample": {"records": records, "expected": expected},
        **(
            {
                "footprint": {
                    "latency_ms": result.chosen.latency_ms,
                    "size_mb": result.chosen.size_mb,
                    "runtime": result.chosen.runtime,
                    "constraints": spec.constraints.model_dump(exclude_none=True),
                }
            }
            if result.chosen is not None and spec.constraints is not None
            else {}
        ),
    }
