"""Run a plan on Dask: scatter the data once, one task per (candidate, fold).

Tasks carry the candidate's resource restrictions (a ``GPU: 1`` candidate runs
only where a worker offers ``GPU``) and a priority from the candidate's estimated
cost (:mod:`jupyter_stratum.training.cost`), so the expensive folds start first and
do not form the run's tail. Results are collected as they complete.
A task whose worker died is run again by Dask; if Dask gives up on it
(``KilledWorker``) the engine resubmits it, up to ``retries`` times. A task
that raises marks its candidate failed and cancels the candidate's other folds; every fold of a
failed candidate counts as failed (``TaskFailed`` once per fold, with one short line: the
exception's type and text, never a Dask traceback).
Interrupting (KeyboardInterrupt) cancels every outstanding task.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ClusterError, TrainingError
from ..events import RunFinished, TaskFailed, TaskFinished, TaskRetried, TaskStarted
from .cost import task_priorities
from .estimator import FeatureTypes
from .fold import FoldJob, fit_fold
from .results import FoldResult


def check_resources(plan, cluster) -> None:
    """ClusterError when a candidate asks for a resource no worker offers."""
    offered = cluster.resources
    for c in plan.candidates:
        for name, amount in c.resources.items():
            if max((w.resources.get(name, 0) for w in cluster.workers), default=0) < amount:
                have = ", ".join(f"{k}={v:g}" for k, v in offered.items()) or "none"
                raise ClusterError(
                    f"Candidate {c.id} asks for {name}={amount:g}, but no worker of the cluster at "
                    f"{cluster.scheduler} offers it (resources offered: {have}). Start a worker with "
                    f"`dask worker ADDRESS --resources {name}={amount:g}`, or remove `resources:` from it."
                )


class _StartListener:
    """Receives the workers' "task started" log events (on the client's loop thread)."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self.starts: dict[str, int] = {}  # task key -> times it started

    def __call__(self, event):
        _, msg = event
        self.queue.put(msg)

    def drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                return out

    def announce(self, jobs: dict[str, FoldJob], emit: Callable) -> None:
        """``TaskStarted`` for each start received (and ``TaskRetried`` first when Dask ran it again
        after its worker was lost); starts of other runs' tasks are ignored."""
        for msg in self.drain():
            key = msg["key"]
            if key not in jobs:
                continue
            self.starts[key] = self.starts.get(key, 0) + 1
            job, attempt = jobs[key], self.starts[key]
            if attempt > 1:  # Dask re-ran it after its worker was lost
                emit(TaskRetried(key, job.candidate_id, job.fold, "worker lost; rescheduled by Dask", attempt))
            emit(
                TaskStarted(
                    key, job.candidate_id, job.fold, str(msg.get("worker_name", msg.get("worker", ""))), attempt
                )
            )


def interrupted(client, futures: dict, data: tuple, emit: Callable, started_at: float, n_tasks: int, n_failed: int):
    """After a KeyboardInterrupt: cancel every task of the run and its scattered data, report the run
    cancelled; the TrainingError to raise."""
    outstanding = [f for f in futures.values() if not f.done()]
    client.cancel(list(futures.values()) + list(data))
    emit(RunFinished(time.perf_counter() - started_at, n_tasks, n_failed, cancelled=True))
    return TrainingError(
        f"Interrupted: cancelled {len(outstanding)} outstanding task(s) on the cluster; nothing was registered."
    )


def unsubscribe(client, topic: str) -> None:
    try:
        client.unsubscribe_topic(topic)
    except Exception:  # noqa: BLE001 - the client closed meanwhile
        pass


@dataclass
class RunOutcome:
    """What :func:`run_plan` gives back: every fold's result, the failed candidates, and what the
    refit reuses (the training part, already on the workers, and its column types)."""

    folds: dict[str, list[FoldResult]]  # candidate id -> its folds' results, in completion order
    errors: dict[str, str]  # candidate id -> the first error of its folds
    data: tuple[Any, Any]  # (X_train, y_train) futures, scattered once
    features: FeatureTypes
    #: halving: candidate id -> its evaluations (halving_run.RungEvaluation), lowest rung first
    rungs: dict[str, list] | None = None


def run_plan(
    plan, dataset, splits, client, *, on_event: Callable | None = None, retries: int = 3, poll: float = 0.05
) -> RunOutcome:
    """Train every task of ``plan`` (one per candidate and fold) on ``client``'s cluster.

    The tasks' keys and resources are the plan's own (``plan.tasks``, placed by ``placement``).
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    emit = on_event or (lambda e: None)
    topic = f"stratum-{plan.run_id}"
    X_train = dataset.X.iloc[splits.train]
    y_train = dataset.y.iloc[splits.train]
    features = FeatureTypes.of(X_train)
    n_classes = len(plan.classes) if plan.classes is not None else None
    image_shape = tuple(dataset.image_shape) if dataset.image_shape else None

    listener = _StartListener()
    client.subscribe_topic(topic, listener)
    started_at = time.perf_counter()
    # the data goes to the workers once; every task refers to these futures
    X_future, y_future = client.scatter([X_train, y_train], broadcast=True, hash=False)

    jobs: dict[str, FoldJob] = {}
    futures = {}
    resources: dict[str, dict] = {}  # candidate id -> its tasks' resources (one placement per candidate)
    for task in plan.tasks:
        candidate = plan.candidate(task.candidate_id)
        jobs[task.key] = FoldJob(
            key=task.key,
            candidate_id=candidate.id,
            algorithm=candidate.algorithm,
            params=candidate.params,
            preprocess=tuple(plan.preprocess),
            features=features,
            task=plan.task,
            metrics=tuple(plan.metrics),
            n_classes=n_classes,
            fold=task.fold,
            topic=topic,
            image_shape=image_shape,
        )
        resources[task.candidate_id] = task.resources
    fold_positions = {fold: (tr, te) for fold, (tr, te) in enumerate(splits.folds)}
    # higher runs first: the expensive candidates' folds start before the cheap ones
    priorities = task_priorities(plan.candidates, len(X_train))

    def submit(job: FoldJob):
        tr, te = fold_positions[job.fold]
        future = client.submit(
            fit_fold,
            job,
            X_future,
            y_future,
            tr,
            te,
            key=job.key,
            pure=False,
            resources=resources[job.candidate_id] or None,
            retries=0,
            priority=priorities[job.candidate_id],
        )
        futures[job.key] = future
        return future

    results: dict[str, list] = {c.id: [] for c in plan.candidates}
    errors: dict[str, str] = {}
    # Dask sends the first tasks of a run straight to idle workers, before the later (maybe
    # costlier) ones arrive, so the submission order follows the priorities too (stable: ties keep plan order)
    by_cost = sorted(jobs.values(), key=lambda j: -priorities[j.candidate_id])
    ac = as_completed([submit(job) for job in by_cost], loop=client.loop)

    n_failed = 0
    failed_folds: set[tuple[str, int]] = set()

    def fold_failed(job: FoldJob, message: str) -> None:
        """Count and report one failed fold (each fold once, whatever its attempts)."""
        nonlocal n_failed
        if (job.candidate_id, job.fold) in failed_folds:
            return
        failed_folds.add((job.candidate_id, job.fold))
        n_failed += 1
        emit(TaskFailed(job.key, job.candidate_id, job.fold, message))

    try:
        while not ac.is_empty():
            listener.announce(jobs, emit)
            if not ac.has_ready():
                time.sleep(poll)
                continue
            for future in ac.next_batch(block=False):
                key = future.key
                job = jobs[key]
                if job.candidate_id in errors:
                    # a later fold of a failed candidate: it raised too, or was cancelled
                    if future.status == "error":
                        fold_failed(job, short_error(future.exception()))
                    else:
                        what = "result discarded" if future.status == "finished" else "cancelled"
                        fold_failed(job, f"{what}: the candidate failed on {errors[job.candidate_id]}")
                    continue
                if future.status == "cancelled":
                    continue
                try:
                    result = future.result()
                except FutureCancelledError:
                    continue
                except Exception as exc:  # noqa: BLE001 - anything raised on the worker
                    if _is_worker_loss(exc) and job.attempt <= retries:
                        new_job = replace(job, key=f"{job.key}-r{job.attempt}", attempt=job.attempt + 1)
                        jobs[new_job.key] = new_job
                        emit(
                            TaskRetried(
                                new_job.key, job.candidate_id, job.fold, f"{type(exc).__name__}: {exc}", new_job.attempt
                            )
                        )
                        ac.add(submit(new_job))
                        continue
                    message = short_error(exc)
                    errors[job.candidate_id] = f"fold {job.fold}: {message}"
                    fold_failed(job, message)
                    client.cancel(
                        [f for k, f in futures.items() if jobs[k].candidate_id == job.candidate_id and not f.done()]
                    )
                    continue
                listener.announce(jobs, emit)
                results[job.candidate_id].append(result)
                emit(TaskFinished(key, job.candidate_id, job.fold, result.worker, result.fit_seconds, result.scores))
    except KeyboardInterrupt:
        raise interrupted(client, futures, (X_future, y_future), emit, started_at, len(futures), n_failed) from None
    finally:
        unsubscribe(client, topic)
    emit(RunFinished(time.perf_counter() - started_at, len(futures), n_failed))
    # the scattered data stays on the workers for the refit; dropping the futures releases it
    return RunOutcome(folds=results, errors=errors, data=(X_future, y_future), features=features)


def short_error(exc: BaseException, limit: int = 300) -> str:
    """One line for an exception raised on a worker: its type and text, never a Dask traceback."""
    text = " ".join(str(exc).split())
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _is_worker_loss(exc: BaseException) -> bool:
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    return isinstance(exc, (KilledWorker, CommClosedError))
