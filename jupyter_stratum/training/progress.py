"""Minimal progress for training runs: lines on a terminal, one updating line in a notebook.

Richer notebook views (widgets, Bokeh) consume the same events; these are the
fallbacks that work everywhere.
"""

from __future__ import annotations

import sys
import time

from ..events import Notice, PlanReady, RefitFinished, RunFinished, TaskFailed, TaskFinished, TaskRetried


class ProgressCounter:
    """Counts tasks from events: done / total, failures, retries, elapsed, ETA."""

    def __init__(self):
        self.total = 0
        self.done = 0
        self.failed = 0
        self.retried = 0
        self.started = time.time()

    def update(self, event) -> None:
        if isinstance(event, PlanReady):
            self.total, self.started = event.n_tasks, event.time
        elif isinstance(event, TaskFinished):
            self.done += 1
        elif isinstance(event, TaskFailed):
            self.failed += 1
        elif isinstance(event, TaskRetried):
            self.retried += 1

    @property
    def elapsed(self) -> float:
        return time.time() - self.started

    @property
    def eta(self) -> float | None:
        finished = self.done + self.failed
        if not finished or not self.total:
            return None
        return self.elapsed / finished * max(self.total - finished, 0)

    def line(self) -> str:
        eta = f", ETA {self.eta:.0f} s" if self.eta is not None and self.done < self.total else ""
        extra = (f", {self.failed} failed" if self.failed else "") + (
            f", {self.retried} retried" if self.retried else ""
        )
        return f"{self.done}/{self.total} tasks, {self.elapsed:.1f} s{eta}{extra}"


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
            text = f"Refit {event.candidate_id} on {event.worker} in {event.seconds:.2f} s"
        if text:
            print(text, file=self.stream, flush=True)


class NotebookProgress:
    """One output line updated in place (throttled), for notebooks without widgets."""

    def __init__(self, min_interval: float = 0.25):
        from IPython.display import display

        self.counter = ProgressCounter()
        self.handle = display({"text/plain": "Planning…"}, raw=True, display_id=True)
        self.min_interval = min_interval
        self.last = 0.0
        self.updates = 0

    def __call__(self, event) -> None:
        self.counter.update(event)
        final = isinstance(event, RunFinished)
        now = time.time()
        if final or now - self.last >= self.min_interval:
            self.last = now
            self.updates += 1
            self.handle.update({"text/plain": self.counter.line()}, raw=True)
