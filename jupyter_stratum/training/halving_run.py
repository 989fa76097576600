"""Run a halving search on Dask: each (configuration, rung) is one task per fold, submitted when the
rules (:mod:`.halving`) say so, the data scattered once.

A configuration's rung is scored when all its folds are in (the mean of the selection metric); the
rules then name what to train next, which is submitted at once with a higher priority than the first
rung's backlog, so promoted configurations run as soon as a worker frees up. Every rung uses the
same folds (subsampled rows for estimators that grow by rows, all rows for ones that grow by a
parameter). A lost worker's tasks are resubmitted (their keys get ``-r{attempt}``); a task that
raises marks its configuration failed at that rung (score NaN: it goes no further).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..catalog import resolve
from ..events import RunFinished, TaskFailed, TaskFinished, TaskRetried
from .cost import task_priorities
from .engine import RunOutcome, _is_worker_loss, _StartListener, interrupted, short_error, unsubscribe
from .estimator import FeatureTypes
from .fold import FoldJob, fit_fold
from .halving import make_controller, rung_positions
from .results import FoldResult
from .warm import forget, store_key


@dataclass
class RungEvaluation:
    """One configuration evaluated at one rung: its folds and the mean of each metric."""

    candidate_id: str
    rung: int
    n_resources: int  # what this configuration got at the rung: rows, or the grown parameter's value
    folds: list[FoldResult]
    error: str | None = None
    resource: str = "n_samples"  # or the parameter it grows by (n_estimators)

    @property
    def resource_text(self) -> str:
        return f"{self.n_resources} rows" if self.resource == "n_samples" else f"{self.resource}={self.n_resources}"

    def mean(self, metric: str) -> float:
        values = [f.scores.get(metric, math.nan) for f in self.folds]
        return float(np.mean(values)) if values and self.error is None else math.nan


def run_halving(
    plan, dataset, splits, client, *, on_event: Callable | None = None, retries: int = 3, poll: float = 0.05
) -> RunOutcome:
    """Train ``plan``'s candidates by successive halving on ``client``'s cluster (``plan.schedule``)."""
    from distributed import as_completed

    emit = on_event or (lambda e: None)
    schedule = plan.schedule
    topic = f"stratum-{plan.run_id}"
    X_train = dataset.X.iloc[splits.train]
    y_train = dataset.y.iloc[splits.train]
    features = FeatureTypes.of(X_train)
    n_classes = len(plan.classes) if plan.classes is not None else None
    image_shape = tuple(dataset.image_shape) if dataset.image_shape else None
    controller = make_controller(schedule, plan.halving_mode)
    positions = {}  # (rung, share of rows) -> folds' positions at that rung
    priorities = task_priorities(plan.candidates, len(X_train))
    warmable = [
        bool(c.grows) and "warm_start" in resolve(c.algorithm, task=plan.task).param_names for c in plan.candidates
    ]

    listener = _StartListener()
    client.subscribe_topic(topic, listener)
    started_at = time.perf_counter()
    X_future, y_future = client.scatter([X_train, y_train], broadcast=True, hash=False)

    jobs: dict[str, FoldJob] = {}
    futures: dict = {}
    pending: dict[tuple[int, int], dict[int, FoldResult]] = {}
    evaluations: dict[tuple[int, int], RungEvaluation] = {}
    failed_at: dict[tuple[int, int], str] = {}
    ac = as_completed([], loop=client.loop)

    def fold_rows(rung: int, share: float, fold: int):
        if (rung, share) not in positions:
            positions[rung, share] = rung_positions(splits.folds, share, plan.search_seed)
        return positions[rung, share][fold]

    def near(job: FoldJob, index: int) -> list[str] | None:
        """Where the configuration's previous rung ran this fold: that worker keeps the model to grow."""
        previous = evaluations.get((index, job.rung - 1)) if job.grows and job.rung > 0 else None
        address = next((f.worker_address for f in previous.folds if f.fold == job.fold), None) if previous else None
        return [address] if address else None

    def submit(job: FoldJob, index: int):
        share = job_share[job.key]
        tr, te = fold_rows(job.rung, share, job.fold)
        candidate = plan.candidates[index]
        workers = near(job, index)
        future = client.submit(
            fit_fold,
            job,
            X_future,
            y_future,
            tr,
            te,
            key=job.key,
            pure=False,
            resources=candidate.resources or None,
            workers=workers,
            allow_other_workers=workers is not None,  # a hint: elsewhere it fits from scratch, same scores
            retries=0,
            # promoted work first (higher rung), then the costlier candidates
            priority=job.rung * 1_000_000 + priorities[candidate.id],
        )
        futures[job.key] = future
        ac.add(future)

    job_share: dict[str, float] = {}
    job_index: dict[str, int] = {}

    def start(index: int, rung: int) -> None:
        candidate = plan.candidates[index]
        params, share = candidate.at_rung(schedule.resources[rung], schedule)
        n_resources = params[candidate.grows] if candidate.grows else schedule.resources[rung]
        if warmable[index]:  # the fit keeps what the next rung goes on from (the same model otherwise)
            params = {**params, "warm_start": True}
        pending[index, rung] = {}
        for fold in range(plan.n_folds):
            key = f"stratum-{plan.run_id}-{index}-r{rung}-{fold}"
            job = FoldJob(
                key=key,
                candidate_id=candidate.id,
                algorithm=candidate.algorithm,
                params=params,
                preprocess=tuple(plan.preprocess),
                features=features,
                task=plan.task,
                metrics=tuple(plan.metrics),
                n_classes=n_classes,
                fold=fold,
                topic=topic,
                image_shape=image_shape,
                rung=rung,
                n_resources=n_resources,
                grows=candidate.grows if warmable[index] else None,
                lineage=store_key(plan.run_id, index, fold) if warmable[index] else None,
                keep=warmable[index] and rung + 1 < schedule.n_rungs,
            )
            jobs[key], job_share[key], job_index[key] = job, share, index
            submit(job, index)

    def finish(index: int, rung: int) -> None:
        """A configuration's rung is complete: record it, ask the rules what comes next."""
        folds = sorted(pending.pop((index, rung)).values(), key=lambda f: f.fold)
        if (index, rung) in failed_at:
            folds = []  # which folds finished before the failure is timing; the failure is not
        candidate = plan.candidates[index]
        params, _ = candidate.at_rung(schedule.resources[rung], schedule)
        evaluation = RungEvaluation(
            candidate.id,
            rung,
            params[candidate.grows] if candidate.grows else schedule.resources[rung],
            folds,
            failed_at.get((index, rung)),
            candidate.grows or "n_samples",
        )
        evaluations[index, rung] = evaluation
        for nxt, nxt_rung in controller.report(index, rung, evaluation.mean(plan.metric) * sign):
            start(nxt, nxt_rung)

    sign = 1 if plan.greater_is_better else -1
    n_failed = 0
    try:
        for index, rung in controller.start():
            start(index, rung)
        while not ac.is_empty():
            listener.announce(jobs, emit)
            if not ac.has_ready():
                time.sleep(poll)
                continue
            for future in ac.next_batch(block=False):
                job = jobs[future.key]
                index = job_index[future.key]
                slot = (index, job.rung)
                if slot not in pending:
                    continue  # the configuration's rung already failed
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - anything raised on the worker
                    if _is_worker_loss(exc) and job.attempt <= retries:
                        new = replace(job, key=f"{job.key}-r{job.attempt}", attempt=job.attempt + 1)
                        jobs[new.key], job_share[new.key], job_index[new.key] = new, job_share[job.key], index
                        emit(
                            TaskRetried(
                                new.key, job.candidate_id, job.fold, f"{type(exc).__name__}: {exc}", new.attempt
                            )
                        )
                        submit(new, index)
                        continue
                    message = short_error(exc)
                    failed_at[slot] = f"rung {job.rung} fold {job.fold}: {message}"
                    n_failed += 1
                    emit(TaskFailed(job.key, job.candidate_id, job.fold, message))
                    client.cancel([f for k, f in futures.items() if job_index[k] == index and jobs[k].rung == job.rung])
                    finish(index, job.rung)
                    continue
                listener.announce(jobs, emit)
                futures.pop(
                    job.key, None
                )  # collected: the worker may forget it (a lost worker's results aren't recomputed)
                pending[slot][job.fold] = result
                emit(
                    TaskFinished(job.key, job.candidate_id, job.fold, result.worker, result.fit_seconds, result.scores)
                )
                if len(pending[slot]) == plan.n_folds:
                    finish(index, job.rung)
    except KeyboardInterrupt:
        raise interrupted(client, futures, (X_future, y_future), emit, started_at, len(jobs), n_failed) from None
    finally:
        unsubscribe(client, topic)
        if any(warmable):
            try:
                client.run(forget, plan.run_id)  # the models kept for later rungs
            except Exception:  # noqa: BLE001 - a worker gone meanwhile: its store went with it
                pass
    emit(RunFinished(time.perf_counter() - started_at, len(jobs), n_failed))
    by_candidate: dict[str, list[RungEvaluation]] = {c.id: [] for c in plan.candidates}
    for (_, _), evaluation in sorted(evaluations.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        by_candidate[evaluation.candidate_id].append(evaluation)
    folds = {cid: (evals[-1].folds if evals else []) for cid, evals in by_candidate.items()}
    errors = {cid: evals[-1].error for cid, evals in by_candidate.items() if evals and evals[-1].error}
    return RunOutcome(folds=folds, errors=errors, data=(X_future, y_future), features=features, rungs=by_candidate)
