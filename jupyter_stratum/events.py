"""Plain event objects the core emits while it works.

Notebook views, the CLI and tests all consume the same events; the core never
calls UI code. Every event has ``kind`` (a short string) and ``time``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    time: float = field(default_factory=time.time, kw_only=True)

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass
class PlanReady(Event):
    """The plan is made: what will be trained."""

    plan: Any
    n_tasks: int
    dashboard_link: str | None = None


@dataclass
class TaskStarted(Event):
    key: str
    candidate_id: str
    fold: int
    worker: str
    attempt: int = 1


@dataclass
class TaskFinished(Event):
    key: str
    candidate_id: str
    fold: int
    worker: str
    seconds: float
    scores: dict


@dataclass
class TaskFailed(Event):
    """A task raised: the candidate is marked failed (its other folds are cancelled)."""

    key: str
    candidate_id: str
    fold: int
    error: str


@dataclass
class TaskRetried(Event):
    """A task's worker was lost; Dask or the engine runs it again elsewhere."""

    key: str
    candidate_id: str
    fold: int
    reason: str
    attempt: int


@dataclass
class RunFinished(Event):
    seconds: float
    n_tasks: int
    n_failed: int
    cancelled: bool = False


@dataclass
class RefitFinished(Event):
    candidate_id: str
    seconds: float
    worker: str
    holdout_scores: dict


@dataclass
class ModelRegistered(Event):
    name: str
    version: int
    ref: str


@dataclass
class Notice(Event):
    """Something the user should know (a fallback taken, a resource missing...)."""

    message: str
    level: str = "info"
