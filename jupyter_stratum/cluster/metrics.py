"""CPU and memory per Dask worker, read from the scheduler (for live views).

The only place a view's data comes from Dask directly: the widget modules call
:class:`WorkerMetricsPoller`, never the Dask client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .client import worker_label


@dataclass
class WorkerMetrics:
    name: str
    address: str
    cpu: float  # percent of one core, as the worker's system monitor reports it
    memory: int  # bytes used by the worker process
    memory_limit: int  # bytes (0: no limit)
    nthreads: int
    executing: int = 0  # tasks executing now

    def to_json(self) -> dict:
        return dict(self.__dict__)


def worker_metrics(client) -> list[WorkerMetrics]:
    """One :class:`WorkerMetrics` per worker, sorted by name, from ``client.scheduler_info()``."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # older distributed
        info = client.scheduler_info()
    rows = []
    for address, w in info.get("workers", {}).items():
        metrics = w.get("metrics") or {}
        counts = metrics.get("task_counts") or {}
        executing = metrics.get("executing")
        if executing is None:
            executing = counts.get("executing", 0) if isinstance(counts, dict) else 0
        rows.append(
            WorkerMetrics(
                name=worker_label(w.get("name", address)),
                address=address,
                cpu=float(metrics.get("cpu") or 0.0),
                memory=int(metrics.get("memory") or metrics.get("managed_bytes") or 0),
                memory_limit=int(w.get("memory_limit") or 0),
                nthreads=int(w.get("nthreads") or 1),
                executing=int(executing or 0),
            )
        )
    return sorted(rows, key=lambda r: r.name)


class WorkerMetricsPoller:
    """Calls :func:`worker_metrics` at most once per ``interval`` seconds; returns the last reading between.

    ``client`` may be a ``distributed.Client`` or a callable returning one (so a
    view can be built before the run connects). Errors (scheduler gone) give the
    last good reading, never an exception in the view.
    """

    def __init__(self, client, interval: float = 1.0):
        self._client = client
        self.interval = interval
        self.last_poll = 0.0
        self.last: list[WorkerMetrics] = []
        self.polls = 0
        self.error: str | None = None

    def client(self):
        return (
            self._client() if callable(self._client) and not hasattr(self._client, "scheduler_info") else self._client
        )

    def __call__(self, force: bool = False) -> list[WorkerMetrics]:
        now = time.monotonic()
        if force or now - self.last_poll >= self.interval:
            self.last_poll = now
            try:
                self.last = worker_metrics(self.client())
                self.polls += 1
                self.error = None
            except Exception as exc:  # noqa: BLE001 - a live panel must not break a run
                self.error = f"{type(exc).__name__}: {exc}"
        return self.last


def poller_for(cluster: str | None = None, interval: float = 1.0) -> WorkerMetricsPoller:
    """A poller on the client :func:`jupyter_stratum.cluster.connect` returns for ``cluster`` (cached)."""
    from .client import connect

    return WorkerMetricsPoller(lambda: connect(cluster), interval)
