"""Minimal progress for training runs: lines on a terminal, one updating line in a notebook.

Richer notebook views (widgets, Bokeh) consume the same events; these are the
fallbacks that work everywhere.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..display import fmt_seconds
from ..events import Notice, PlanReady, RefitFinished, RunFinished, TaskFailed, TaskFinished, TaskRetried


class ProgressCounter:
    """Counts tasks from events: done / total, failed folds, retries, elapsed, ETA.

    The ETA comes from the rate at which tasks finish *after the first one* (the first waits for
    the workers to start and import the libraries), and only once a few tasks have finished, so
    it is not absurdly far off early in a run. ``stopped_at`` freezes the elapsed time at the run's
    own end (``RunFinished.seconds``), the same figure the result's summary gives.
    """

    def __init__(self):
        self.total = 0
        self.done = 0
        self.failed = 0
        self.retried = 0
        self.started = time.time()
        self.finish_times: list[float] = []
        self.run_seconds: float | None = None

    def update(self, event) -> None:
        if isinstance(event, PlanReady):
            self.total, self.started = event.n_tasks, event.time
        elif isinstance(event, TaskFinished):
            self.done += 1
            self.finish_times.append(event.time)
        elif isinstance(event, TaskFailed):
            self.failed += 1
            self.finish_times.append(event.time)
        elif isinstance(event, TaskRetried):
            self.retried += 1
        elif isinstance(event, RunFinished):
            self.run_seconds = event.seconds

    @property
    def elapsed(self) -> float:
        return self.run_seconds if self.run_seconds is not None else time.time() - self.started

    @property
    def eta(self) -> float | None:
        """Seconds left, or None while too few tasks have finished to say."""
        finished = self.done + self.failed
        if self.run_seconds is not None or not self.total or finished >= self.total:
            return None if finished < self.total or not self.total else 0.0
        if finished < max(3, self.total // 10):
            return None
        times = sorted(self.finish_times)
        span = times[-1] - times[0]
        if span <= 0:
            return None
        rate = (len(times) - 1) / span  # tasks per second since the first one finished
        since_last = max(time.time() - times[-1], 0.0)
        return max((self.total - finished) / rate - since_last, 0.0)

    def line(self) -> str:
        eta = self.eta
        eta_text = f", ETA {fmt_seconds(eta)}" if eta is not None and self.done + self.failed < self.total else ""
        extra = (f", {self.failed} failed" if self.failed else "") + (
            f", {self.retried} retried" if self.retried else ""
        )
        return f"{self.done}/{self.total} tasks, {fmt_seconds(self.elapsed)}{eta_text}{extra}"


class TerminalProgress:
    """Prints one line per finished task, failures, retries and notices (for the CLI)."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.counter = ProgressCounter()
        self.quiet = quiet

    def __call__(self, event) -> None:
        self.counter.update(event)
        text = None
        if isinstance(event, PlanReady):
            text = f"Training {event.n_tasks} tasks" + (
                f" (dashboard: {event.dashboard_link})" if event.dashboard_link else ""
            )
        elif isinstance(event, TaskFinished) and not self.quiet:
            text = f"[{self.counter.line()}] {event.candidate_id} fold {event.fold} on {event.worker}: {event.seconds:.2f} s"
        elif isinstance(event, (TaskFailed, TaskRetried)):
            text = f"{event.kind}: {event.candidate_id} fold {event.fold}: {getattr(event, 'error', getattr(event, 'reason', ''))}"
        elif isinstance(event, Notice):
            text = f"{event.level}: {event.message}"
        elif isinstance(event, RunFinished):
            text = f"Done: {self.counter.line()}" + (" (cancelled)" if event.cancelled else "")
        elif isinstance(event, RefitFinished):
            text = f"Refit {event.candidate_id} on {event.worker} in {fmt_seconds(event.seconds)}"
        if text:
            print(text, file=self.stream, flush=True)


class NotebookProgress:
    """One output line updated in place (throttled), for notebooks without widgets."""

    def __init__(self, min_interval: float = 0.25):
        self.counter = ProgressCounter()
        self.handle: Any = None  # displayed at the first event: an error before the plan leaves no stale line
        self.min_interval = min_interval
        self.last = 0.0
        self.updates = 0

    def __call__(self, event) -> None:
        if self.handle is None:
            from IPython.display import display

            self.handle = display({"text/plain": "Planning…"}, raw=True, display_id=True)
        self.counter.update(event)
        final = isinstance(event, RunFinished)
        now = time.time()
        if final or now - self.last >= self.min_interval:
            self.last = now
            self.updates += 1
            self.handle.update({"text/plain": self.counter.line()}, raw=True)
