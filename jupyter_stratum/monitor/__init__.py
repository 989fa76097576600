"""Watching deployed models: Prometheus ``/metrics`` of every host → rates, latency
percentiles, error rate, CPU, memory, up/down — for scripts (:func:`sample`), the CLI
(:func:`watch`) and a live Bokeh panel (:class:`MonitorPanel`, through jupyter_bokeh).

>>> from jupyter_stratum import monitor
>>> monitor.sample("churn")               # two scrapes one second apart, a row per host
>>> panel = monitor.panel("churn"); panel  # live in the notebook; panel.stop()

Hosts serving the model in a container (``--runtime docker``) also show the engine's CPU and
memory of that container and its limits, so two container configurations compare side by side.

Bokeh is imported only when a panel is made.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "sample": "core",
    "watch": "core",
    "Monitor": "core",
    "MonitorSample": "core",
    "resolve_targets": "core",
    "resolve_containers": "core",
    "scrape": "metrics",
    "Scrape": "metrics",
    "HostStats": "metrics",
    "compute_stats": "metrics",
    "parse_prometheus": "metrics",
    "histogram_quantile": "metrics",
    "MonitorPanel": "panel",
    "stop_all": "panel",
}

__all__ = sorted(_LAZY) + ["panel"]


def panel(target=None, *, interval: float = 2.0, registry=None, start: bool = True):
    """A live :class:`MonitorPanel` of a deployment (see :func:`resolve_targets` for ``target``)."""
    from .core import Monitor, resolve_containers, resolve_targets
    from .panel import MonitorPanel

    targets = resolve_targets(target, registry=registry)
    probe = resolve_containers(target, registry=registry)
    monitor = Monitor(targets, interval=interval, containers=probe)
    p = MonitorPanel(monitor, title=f"monitor {target or 'deployment'}")
    return p.start() if start else p


def __getattr__(name: str) -> Any:
    try:
        mod = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'jupyter_stratum.monitor' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
