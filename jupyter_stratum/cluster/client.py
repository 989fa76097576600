"""Connecting to Dask: an embedded LocalCluster by default, or a scheduler address.

Dask is the distributed engine; jupyter-stratum never schedules anything itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from ..errors import ClusterError

SCHEDULER_ENV = "STRATUM_SCHEDULER"

_lock = threading.Lock()
_clients: dict[str, Any] = {}  # address (or "embedded") -> distributed.Client
_embedded: Any = None  # the LocalCluster we started


@dataclass
class WorkerInfo:
    name: str
    address: str
    nthreads: int
    memory_limit: int
    resources: dict = field(default_factory=dict)


@dataclass
class ClusterInfo:
    scheduler: str
    dashboard_link: str | None
    workers: list[WorkerInfo]
    embedded: bool

    @property
    def resources(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for w in self.workers:
            for k, v in w.resources.items():
                total[k] = total.get(k, 0) + v
        return total

    def rows(self) -> list[dict]:
        return [
            {
                "worker": w.name,
                "address": w.address,
                "threads": w.nthreads,
                "memory GiB": round(w.memory_limit / 2**30, 1) if w.memory_limit else None,
                "resources": ", ".join(f"{k}={v:g}" for k, v in w.resources.items()) or "-",
            }
            for w in self.workers
        ]

    def to_text(self) -> str:
        from ..display import text_table

        kind = "embedded local cluster" if self.embedded else "cluster"
        return f"Dask {kind} at {self.scheduler}; dashboard: {self.dashboard_link or '-'}\n" + text_table(self.rows())

    def _repr_html_(self) -> str:
        from ..display import html_table

        link = (
            f'<a href="{self.dashboard_link}" target="_blank">dashboard</a>' if self.dashboard_link else "no dashboard"
        )
        kind = "embedded local cluster" if self.embedded else "cluster"
        return f"<p>Dask {kind} at <code>{self.scheduler}</code> ({link})</p>" + html_table(self.rows())

    def to_json(self) -> dict:
        return {
            "scheduler": self.scheduler,
            "dashboard_link": self.dashboard_link,
            "embedded": self.embedded,
            "workers": [w.__dict__ for w in self.workers],
        }


def worker_label(name) -> str:
    """How a worker is named in events and views: LocalCluster's 0, 1 ... become local-0, local-1."""
    return f"local-{name}" if isinstance(name, int) else str(name)


def configured_scheduler() -> str | None:
    """The scheduler address from $STRATUM_SCHEDULER, if set."""
    return os.environ.get(SCHEDULER_ENV) or None


def connect(
    address: str | None = None,
    *,
    n_workers: int | None = None,
    timeout: float = 10,
    gateway: bool | str = False,
    token: str | None = None,
):
    """A ``distributed.Client``: to ``address``, else $STRATUM_SCHEDULER, else an embedded LocalCluster.

    ``gateway=True`` (or the gateway's URL) asks a Dask Gateway for a cluster instead and
    makes it the one training uses (see :func:`jupyter_stratum.cluster.gateway.gateway`), logged in
    with the user's own hub ``token`` (default: $JUPYTERHUB_API_TOKEN in a hub's kernel).
    Clients are cached per address, so repeated runs reuse the cluster.
    """
    global _embedded
    if gateway:
        from .gateway_client import gateway as _gateway

        return _gateway(gateway if isinstance(gateway, str) else None, token=token)
    address = address or configured_scheduler()
    key = address or "embedded"
    with _lock:
        client = _clients.get(key)
        if client is not None and client.status == "running":
            if address or _has_workers(client):
                return client
            # the embedded cluster lost every worker (killed from outside): start a new one, and say so
            import warnings

            _close_embedded()
            warnings.warn(
                "The embedded Dask cluster had lost all its workers; started a new one.", RuntimeWarning, stacklevel=2
            )
        from distributed import Client

        if address:
            try:
                client = Client(address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(
                    f"Cannot reach the Dask scheduler at {address}: {exc}. Check that `dask scheduler` "
                    f"runs there and the address is right, or leave out --cluster / {SCHEDULER_ENV} "
                    "to use the embedded local cluster."
                ) from None
        else:
            _embedded = _start_local_cluster(n_workers)
            client = Client(_embedded, set_as_default=False)
        _clients[key] = client
        return client


#: runs in every worker process of the embedded cluster (see :func:`_start_local_cluster`)
SHIELD_PRELOAD = "jupyter_stratum.cluster.shield"


def _start_local_cluster(n_workers: int | None):
    """The embedded LocalCluster, its worker processes shielded from the kernel's interrupts.

    Stop in a notebook sends SIGINT to the kernel's whole process group, and the worker processes
    are in it: unshielded, they die and the next run waits for workers that never come. They start
    with SIGINT ignored (a disposition inherited across exec, which Python keeps), and a preload
    ignores it again in a worker the nanny restarts later. The kernel itself still gets the
    KeyboardInterrupt, which cancels the run's tasks.
    """
    import signal

    from distributed import LocalCluster

    n = n_workers or max(1, min(os.cpu_count() or 1, 8))
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            preload=[SHIELD_PRELOAD],
        )
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def _has_workers(client) -> bool:
    """Whether the embedded cluster still has workers: read from its scheduler, which runs in this
    process (no call over the network that a busy or interrupted client could fail)."""
    scheduler = getattr(_embedded, "scheduler", None)
    workers = getattr(scheduler, "workers", None)
    return True if workers is None else bool(workers)


def use_for_training(address: str | None) -> None:
    """Make ``address`` the scheduler that training uses by default in this process
    (``$STRATUM_SCHEDULER``); ``None`` goes back to the embedded local cluster."""
    if address:
        os.environ[SCHEDULER_ENV] = address
    else:
        os.environ.pop(SCHEDULER_ENV, None)


def use(client, address: str) -> None:
    """Make ``client`` the one :func:`connect` returns for ``address`` (e.g. a Dask Gateway's
    client, which reaches the scheduler through the gateway's TLS proxy)."""
    with _lock:
        _clients[address] = client


def embedded_client():
    """The running client of the embedded local cluster, or None when it is not started; starts nothing."""
    with _lock:
        client = _clients.get("embedded")
    return client if client is not None and getattr(client, "status", None) == "running" else None


def local(n_workers: int | None = None):
    """Restart the embedded cluster with ``n_workers`` workers."""
    close("embedded")
    return connect(None, n_workers=n_workers)


def close(key: str | None = None) -> None:
    """Close cached clients (and the embedded cluster)."""
    with _lock:
        for k in list(_clients):
            if key is None or k == key:
                try:
                    _clients.pop(k).close()
                except Exception:  # noqa: BLE001
                    pass
        if key in (None, "embedded"):
            _close_embedded()


def _close_embedded() -> None:
    """Close the embedded cluster and its client (the caller holds ``_lock``)."""
    global _embedded
    client = _clients.pop("embedded", None)
    if client is not None:
        try:
            client.close()
        except Exception:  # noqa: BLE001
            pass
    if _embedded is not None:
        try:
            _embedded.close()
        except Exception:  # noqa: BLE001
            pass
        _embedded = None


atexit.register(close)


def cluster_info(client) -> ClusterInfo:
    try:
        info = client.scheduler_info(n_workers=-1)  # newer distributed lists 5 workers by default
    except TypeError:
        info = client.scheduler_info()
    workers = [
        WorkerInfo(
            name=worker_label(w.get("name", addr)),
            address=addr,
            nthreads=int(w.get("nthreads", 1)),
            memory_limit=int(w.get("memory_limit") or 0),
            resources=dict(w.get("resources") or {}),
        )
        for addr, w in sorted(info.get("workers", {}).items(), key=lambda kv: str(kv[1].get("name")))
    ]
    return ClusterInfo(
        scheduler=client.scheduler.address,
        dashboard_link=_dashboard(client),
        workers=workers,
        embedded=_embedded is not None and client is _clients.get("embedded"),
    )


def probe(address: str, timeout: float = 5) -> ClusterInfo:
    """What the scheduler at ``address`` has, through a short-lived client (nothing cached).

    For callers that must not hold a connection to a team's cluster (the server extension).
    ClusterError, saying what to do, when the scheduler does not answer.
    """
    from distributed import Client

    try:
        with Client(address, timeout=timeout, set_as_default=False) as client:
            return cluster_info(client)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"The scheduler at {address} ({SCHEDULER_ENV}) does not answer: {exc}. Start it, or unset "
            f"{SCHEDULER_ENV} and restart JupyterLab to train on the embedded local cluster."
        ) from None


def _dashboard(client) -> str | None:
    try:
        return client.dashboard_link
    except Exception:  # noqa: BLE001
        return None
