"""Polling deployments' ``/metrics``: the same numbers for scripts, the CLI and the panel.

For a model deployed with the docker runtime the monitor also asks each host's engine for its
container's CPU and memory (:func:`~jupyter_stratum.deploy.docker_stats.container_stats`), shown
beside the runtime's latency (:attr:`HostStats.container`); hosts on the process runtime have none.
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DeployError
from .metrics import HostStats, Scrape, compute_stats, scrape

if TYPE_CHECKING:
    from ..deploy.docker_stats import ContainerStats

#: asks the engines for the containers' stats (one ad-hoc Ansible command to the hosts)
ContainerProbe = Callable[[], "list[ContainerStats]"]


def resolve_targets(target=None, *, registry=None) -> dict[str, str]:
    """``{host: base URL}`` from a deployed model's name (the hosts serving it in its newest
    live deployment, :meth:`Registry.live_deployment`; the newest of any model when
    None), an inventory path, a URL, a list of URLs or a ``{host: url}`` dict."""
    from pathlib import Path

    if isinstance(target, dict):
        return {str(k): str(v) for k, v in target.items()}
    if isinstance(target, (list, tuple)):
        return {_host_of(u): u for u in target}
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        return {_host_of(target): target}
    if isinstance(target, (str, Path)) and Path(target).is_file():
        from ..deploy.inventory import read_inventory

        return {h.name: h.url for h in read_inventory(target).hosts}
    from ..registry import open_registry

    reg = registry if registry is not None else open_registry()
    live = reg.live_deployment(str(target) if target else None)
    if live is not None:
        return {h.host: h.url for h in live.serving_hosts}
    what = f"model '{target}'" if target else "any model"
    raise DeployError(
        f"No live deployment of {what} is recorded; deploy it first (`%stratum deploy NAME --edge INVENTORY`) "
        "or give the hosts' URLs."
    )


def resolve_containers(target=None, *, registry=None) -> ContainerProbe | None:
    """A probe of the engine's stats of a deployed model's containers, when ``target`` is the model's
    name (or None: the newest deployment) and its live deployment's inventory is here; else None
    (URLs, inventories and dicts name no model)."""
    from pathlib import Path

    if target is not None and (
        not isinstance(target, str) or target.startswith(("http://", "https://")) or Path(target).is_file()
    ):
        return None
    from ..registry import open_registry

    reg = registry if registry is not None else open_registry()
    live = reg.live_deployment(str(target) if target else None)
    if live is None or not live.inventory or not Path(live.inventory).is_file():
        return None
    if not _runs_containers(reg, live):
        return None  # the process runtime: no engine to ask
    from functools import partial

    from ..deploy.docker_stats import container_stats

    limit = ",".join(h.host for h in live.serving_hosts)
    return partial(container_stats, live.model_name, live.inventory, limit=limit)


def _runs_containers(reg, live) -> bool:
    """Whether hosts of deployment ``live`` may run the model in a container: its newest deploy asked
    for ``--runtime docker``, or a host of its inventory says ``stratum_runtime: docker``."""
    from ..deploy.docker_image import wants_docker
    from ..deploy.inventory import read_inventory

    deploys = [d for d in reg.deployments(live.model_name) if d.action == "deploy"]
    runtime = deploys[-1].extra.get("runtime") if deploys else None
    try:
        return wants_docker(runtime, read_inventory(live.inventory))
    except DeployError:
        return False


def _host_of(url: str) -> str:
    from urllib.parse import urlparse

    u = urlparse(url)
    return f"{u.hostname}:{u.port}" if u.port else str(u.hostname)


def _finite(values) -> list[float]:
    return [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


@dataclass
class FleetStats:
    """A fleet in one row: hosts up, summed request rate, the fleet's error rate (errors over
    all requests), the worst host's p50/p95/p99, mean CPU and memory, the versions served."""

    hosts: int
    up: int
    request_rate: float
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_percent: float
    memory_mb: float
    versions: dict[str, int]

    @classmethod
    def of(cls, stats: list[HostStats]) -> FleetStats:
        up = [s for s in stats if s.up]
        rates = [(s.request_rate, s.error_rate) for s in up if not math.isnan(s.request_rate)]
        total = sum(r for r, _ in rates)
        errors = sum(r * e for r, e in rates if not math.isnan(e))
        versions: dict[str, int] = {}
        for s in up:
            v = s.model.split("@")[-1] if s.model else "?"
            versions[v] = versions.get(v, 0) + 1
        worst = lambda attr: max(_finite(getattr(s, attr) for s in up), default=math.nan)  # noqa: E731
        mean = lambda attr: (sum(xs) / len(xs)) if (xs := _finite(getattr(s, attr) for s in up)) else math.nan  # noqa: E731
        return cls(
            hosts=len(stats),
            up=len(up),
            request_rate=total if rates else math.nan,
            error_rate=errors / total if total > 0 else (0.0 if rates else math.nan),
            p50_ms=worst("p50_ms"),
            p95_ms=worst("p95_ms"),
            p99_ms=worst("p99_ms"),
            cpu_percent=mean("cpu_percent"),
            memory_mb=mean("memory_mb"),
            versions=dict(sorted(versions.items(), reverse=True)),
        )

    def to_text(self) -> str:
        f = lambda v, d=1: "-" if math.isnan(v) else f"{v:.{d}f}"  # noqa: E731
        err = f(self.error_rate * 100 if not math.isnan(self.error_rate) else math.nan, 2)
        served = ", ".join(f"v{v} on {n}" for v, n in self.versions.items())
        return (
            f"fleet: {self.up}/{self.hosts} up, {f(self.request_rate)} req/s, {err}% errors, "
            f"worst p50/p95/p99 {f(self.p50_ms, 2)}/{f(self.p95_ms, 2)}/{f(self.p99_ms, 2)} ms, "
            f"cpu {f(self.cpu_percent)}% mean, mem {f(self.memory_mb)} MB mean"
            + (f"; serving {served}" if served else "")
        )


def badness(s: HostStats) -> tuple:
    """Sort key, worst host first: down, then error rate, then p99."""
    nan0 = lambda v: -1.0 if (v is None or math.isnan(v)) else v  # noqa: E731
    return (s.up, -nan0(s.error_rate), -nan0(s.p99_ms), s.host)


@dataclass
class MonitorSample:
    """One row of :class:`HostStats` per host, shown as a table (with many hosts: the fleet's
    aggregates, :attr:`fleet`, and the :meth:`worst` hosts)."""

    stats: list[HostStats]

    #: above this many hosts the table shows the fleet line and the worst hosts only
    FULL_TABLE_MAX = 8
    WORST_SHOWN = 5

    @property
    def fleet(self) -> FleetStats:
        return FleetStats.of(self.stats)

    def worst(self, n: int = WORST_SHOWN) -> list[HostStats]:
        """The ``n`` worst hosts: down first, then by error rate, then by p99."""
        return sorted(self.stats, key=badness)[:n]

    def __iter__(self):
        return iter(self.stats)

    def __getitem__(self, host: str) -> HostStats:
        for s in self.stats:
            if s.host == host:
                return s
        raise KeyError(host)

    def rows(self) -> list[dict]:
        return [s.row() for s in self.stats]

    _HEAD = [
        "host",
        "up",
        "req/s",
        "err %",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "cpu %",
        "mem MB",
        "requests",
        "drift",
        "live",
    ]

    #: shown when a host runs its model in a container: the engine's figures and the limits
    _CONTAINER_HEAD = ["ctr cpu %", "cpus", "ctr mem MB", "mem limit MB"]

    def _shown(self) -> list[HostStats]:
        return self.stats if len(self.stats) <= self.FULL_TABLE_MAX else self.worst()

    def _with_containers(self) -> bool:
        return any(s.container is not None for s in self._shown())

    def _head(self) -> list[str]:
        return self._HEAD + (self._CONTAINER_HEAD if self._with_containers() else [])

    def _cells(self) -> list[list[str]]:
        f = lambda v, d=1: "-" if (v is None or (isinstance(v, float) and math.isnan(v))) else f"{v:.{d}f}"  # noqa: E731

        def ctr(s: HostStats) -> list[str]:
            c = s.container
            if c is None:
                return ["-"] * len(self._CONTAINER_HEAD)
            return [
                f(c.cpu_percent),
                f(c.cpu_limit, 2) if c.cpu_limit else "none",
                f(c.memory_mb),
                f(c.memory_limit_mb, 0),
            ]

        extra = self._with_containers()
        return [
            [
                s.host,
                "up" if s.up else "DOWN",
                f(s.request_rate),
                f(s.error_rate * 100 if s.error_rate == s.error_rate else math.nan),
                f(s.p50_ms, 2),
                f(s.p95_ms, 2),
                f(s.p99_ms, 2),
                f(s.cpu_percent),
                f(s.memory_mb),
                f(s.requests_total, 0),
                f"{s.drifted_features}/{s.tracked_features}" if s.tracked_features else "-",
                f(s.live_metric, 3),
                *(ctr(s) if extra else []),
            ]
            for s in self._shown()
        ]

    def to_text(self) -> str:
        cells, head = self._cells(), self._head()
        widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(head)]
        line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
        table = [line(head)] + [line(r) for r in cells]
        if len(self.stats) <= self.FULL_TABLE_MAX:
            return "\n".join(table)
        more = len(self.stats) - len(cells)
        return "\n".join([self.fleet.to_text(), f"worst {len(cells)} hosts:", *table, f"... and {more} more hosts"])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in self._head())
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self._cells())
        table = f"<table><tr>{head}</tr>{body}</table>"
        if len(self.stats) <= self.FULL_TABLE_MAX:
            return table
        return (
            f"<div><b>{html.escape(self.fleet.to_text())}</b><div>worst {len(self._shown())} of "
            f"{len(self.stats)} hosts:</div>{table}</div>"
        )

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.to_text())


class Monitor:
    """Polls every host's ``/metrics``; keeps the last scrape per host and a bounded history.

    ``poll()`` once from a script, or ``start()`` a background poller that calls
    ``on_update(sample)`` every ``interval`` seconds until ``stop()``.

    ``containers`` (see :func:`resolve_containers`) asks the hosts' engines for their containers'
    CPU and memory; that takes seconds (SSH, ``docker stats``), so it runs beside the scrapes and
    each sample carries the newest answer (``poll(wait_containers=True)`` waits for a fresh one).
    """

    def __init__(
        self,
        targets: dict[str, str],
        interval: float = 2.0,
        history: int = 600,
        timeout: float = 2.0,
        containers: ContainerProbe | None = None,
    ):
        if not targets:
            raise DeployError("Nothing to monitor: give at least one host URL.")
        self.targets = dict(targets)
        self.containers = containers
        self.containers_error = ""
        self._containers_last: dict[str, ContainerStats] = {}
        self._containers_job: Future | None = None
        self.interval = float(interval)
        self.timeout = timeout
        self.max_history = history
        self.history: list[MonitorSample] = []
        self._last: dict[str, Scrape] = {}
        self._callbacks: list[Callable[[MonitorSample], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        workers = min(16, len(self.targets)) + (containers is not None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stratum-monitor")

    def _container_rows(self, wait: bool) -> dict[str, ContainerStats]:
        """The newest answer of the container probe; starts the next one when it came."""
        if self.containers is None:
            return {}
        job = self._containers_job
        if job is None:
            job = self._containers_job = self._pool.submit(self.containers)
        if wait or job.done():
            try:
                rows = job.result()
            except Exception as exc:  # noqa: BLE001 - a host's engine failing must not stop the scrapes
                self.containers_error = str(exc)
                self._containers_last = {}
            else:
                self.containers_error = ""
                self._containers_last = {r.host: r for r in rows}
            self._containers_job = None if wait else self._pool.submit(self.containers)
        return self._containers_last

    def poll(self, *, wait_containers: bool = False) -> MonitorSample:
        """Scrape every host now (in parallel) and compute stats against the previous scrape;
        ``wait_containers``: wait for the engines' answer rather than take the newest one at hand."""
        if self.containers is not None and self._containers_job is None:
            self._containers_job = self._pool.submit(self.containers)
        scrapes = list(self._pool.map(lambda kv: scrape(kv[0], kv[1], self.timeout), self.targets.items()))
        rows = self._container_rows(wait_containers)
        stats = []
        for s in scrapes:
            stats.append(compute_stats(s, self._last.get(s.host)))
            stats[-1].container = rows.get(s.host)
            if s.up:
                self._last[s.host] = s
        sample = MonitorSample(stats)
        self.history.append(sample)
        del self.history[: -self.max_history]
        return sample

    def on_update(self, callback: Callable[[MonitorSample], None]) -> None:
        self._callbacks.append(callback)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Monitor:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="stratum-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and wait for the poller to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=False)

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            sample = self.poll()
            for cb in list(self._callbacks):
                try:
                    cb(sample)
                except Exception:  # a display error must not stop the poller  # noqa: BLE001
                    pass
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))


def sample(
    target=None, *, interval: float = 1.0, registry=None, timeout: float = 2.0, containers: bool = True
) -> MonitorSample:
    """Scrape the hosts twice, ``interval`` seconds apart, and return the stats per host.

    ``target``: a deployed model's name (default: the newest deployment), an inventory,
    a URL, a list of URLs or ``{host: url}``. For a model's name, hosts running it in a
    container also get their engine's CPU and memory (``containers=False``: not asked).
    """
    probe = resolve_containers(target, registry=registry) if containers else None
    m = Monitor(resolve_targets(target, registry=registry), interval=interval, timeout=timeout, containers=probe)
    try:
        m.poll()
        time.sleep(interval)
        return m.poll(wait_containers=True)
    finally:
        m.close()


def watch(
    target=None, *, interval: float = 2.0, count: int | None = None, registry=None, out: Callable[[str], None] = print
) -> Iterable[MonitorSample]:
    """CLI view: print the table every ``interval`` s (``count`` times, or until Ctrl-C)."""
    probe = resolve_containers(target, registry=registry)
    m = Monitor(resolve_targets(target, registry=registry), interval=interval, containers=probe)
    n = 0
    try:
        m.poll()
        while count is None or n < count:
            time.sleep(interval)
            s = m.poll()
            out(time.strftime("%H:%M:%S") + "\n" + s.to_text())
            n += 1
            yield s
    finally:
        m.close()
