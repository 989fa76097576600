"""A live Bokeh panel (through jupyter_bokeh) of a deployment's hosts.

HTTP polling runs in the :class:`~.core.Monitor`'s thread; the Bokeh models are
changed on the kernel's event loop (``call_soon_threadsafe``) when there is one,
so widget messages leave from the thread that owns the comm. ``stop()`` ends the
poller; a kernel shutdown ends it too (daemon thread, ``atexit``).
"""

from __future__ import annotations

import math
from typing import Any

from ..widgets.live_panel import LivePanel, stop_panels
from .core import Monitor, MonitorSample

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_FIELDS = ("t", "rate", "p50", "p95", "p99", "err", "cpu", "mem", "up", "ccpu", "ccpu_lim", "cmem", "cmem_lim")
_NO_CONTAINER = {"ccpu": math.nan, "ccpu_lim": math.nan, "cmem": math.nan, "cmem_lim": math.nan}


def _nan(v: float) -> float:
    return float("nan") if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


class MonitorPanel(LivePanel):
    """Request rate, p50/p95/p99 latency, error rate, CPU and memory per host, and up/down.

    With more hosts than :attr:`MonitorSample.FULL_TABLE_MAX` (a fleet), the plots show the
    fleet's aggregates (:class:`~.core.FleetStats`: summed rate, fleet error rate, worst
    host's latency, mean CPU and memory) and the status shows the fleet line and the worst
    hosts: the numbers :func:`~.core.sample` gives.

    When the monitor asks the engines (a model on the docker runtime), two more plots show each
    container's CPU and memory as its engine accounts them, its limit dashed; hosts on the
    process runtime draw no line there (NaN, not zero).
    """

    def __init__(self, monitor: Monitor, *, title: str = "deployment", window: int = 300):
        from bokeh.layouts import column, gridplot
        from bokeh.models import ColumnDataSource
        from bokeh.models.widgets import Div
        from bokeh.plotting import figure

        self.monitor = monitor
        self.window = window
        self.updates = 0
        self.hosts = list(monitor.targets)
        self.fleet_mode = len(self.hosts) > MonitorSample.FULL_TABLE_MAX
        self.series = ["fleet"] if self.fleet_mode else self.hosts
        self.sources = {h: ColumnDataSource({f: [] for f in _FIELDS}) for h in self.series}
        self.status = Div(text=self._status_html(None))
        figs: list[Any] = []
        specs = [
            ("Requests / s", ["rate"]),
            ("Latency ms (p50 solid, p95 dashed, p99 dotted)", ["p50", "p95", "p99"]),
            ("Error rate %", ["err"]),
            ("CPU %", ["cpu"]),
            ("Memory MB", ["mem"]),
        ]
        if monitor.containers is not None and not self.fleet_mode:
            specs += [
                ("Container CPU % of one core (engine; limit dashed)", ["ccpu", "ccpu_lim"]),
                ("Container memory MB (engine; limit dashed)", ["cmem", "cmem_lim"]),
            ]
        dashes = {"p50": "solid", "p95": "dashed", "p99": "dotted", "ccpu_lim": "dashed", "cmem_lim": "dashed"}
        for title_, fields in specs:
            f = figure(title=title_, x_axis_type="datetime", height=180, width=420, tools="pan,wheel_zoom,reset,hover")
            for i, h in enumerate(self.series):
                for fld in fields:
                    extra = {"legend_label": h} if fld == fields[0] else {}
                    f.line(
                        "t",
                        fld,
                        source=self.sources[h],
                        color=_PALETTE[i % len(_PALETTE)],
                        line_dash=dashes.get(fld, "solid"),
                        line_width=2,
                        **extra,
                    )
            if f.legend:
                f.legend.location = "top_left"
                f.legend.label_text_font_size = "8pt"
            figs.append(f)
        self.layout = column(Div(text=f"<b>{title}</b>"), self.status, gridplot(figs, ncols=2))
        monitor.on_update(self._on_sample)
        self.register()

    # -- life cycle ----------------------------------------------------------
    def start(self) -> MonitorPanel:
        self.watch_kernel_loop()
        self.monitor.start()
        return self

    def stop(self) -> None:
        """Stop polling; the panel keeps its last values."""
        self.monitor.stop()

    @property
    def running(self) -> bool:
        return self.monitor.running

    # -- updates -------------------------------------------------------------
    def _on_sample(self, sample: MonitorSample) -> None:
        self.schedule(lambda: self.apply(sample))

    def apply(self, sample: MonitorSample) -> None:
        """Add one sample to the plots (runs on the kernel's loop in a notebook)."""
        rows: list[Any] = list(sample.stats)
        if self.fleet_mode:
            fleet = sample.fleet
            self.sources["fleet"].stream(
                {
                    "t": [max((s.time for s in sample.stats), default=0.0) * 1000.0],
                    "rate": [_nan(fleet.request_rate)],
                    "p50": [_nan(fleet.p50_ms)],
                    "p95": [_nan(fleet.p95_ms)],
                    "p99": [_nan(fleet.p99_ms)],
                    "err": [_nan(fleet.error_rate * 100 if fleet.error_rate == fleet.error_rate else math.nan)],
                    "cpu": [_nan(fleet.cpu_percent)],
                    "mem": [_nan(fleet.memory_mb)],
                    "up": [fleet.up],
                    **{k: [v] for k, v in _NO_CONTAINER.items()},
                },
                rollover=self.window,
            )
            rows = []
        for s in rows:
            src = self.sources.get(s.host)
            if src is None:
                continue
            src.stream(
                {
                    "t": [s.time * 1000.0],
                    "rate": [_nan(s.request_rate)],
                    "p50": [_nan(s.p50_ms)],
                    "p95": [_nan(s.p95_ms)],
                    "p99": [_nan(s.p99_ms)],
                    "err": [_nan(s.error_rate * 100 if s.error_rate == s.error_rate else math.nan)],
                    "cpu": [_nan(s.cpu_percent)],
                    "mem": [_nan(s.memory_mb)],
                    "up": [1 if s.up else 0],
                    **{k: [v] for k, v in _container_fields(s).items()},
                },
                rollover=self.window,
            )
        self.status.text = self._status_html(sample)
        self.updates += 1

    def _status_html(self, sample: MonitorSample | None) -> str:
        if sample is None:
            if self.fleet_mode:
                return f"{len(self.hosts)} hosts: …"
            return " ".join(f"<span style='margin-right:1em'>{h}: …</span>" for h in self.hosts)
        if self.fleet_mode:
            return sample._repr_html_()
        parts = []
        for s in sample.stats:
            colour = "#2e7d32" if s.up else "#c62828"
            label = "up" if s.up else f"DOWN ({s.error[:60]})"
            c = s.container
            if c is not None:
                cpus = f"{c.cpu_limit:g} cpus" if c.cpu_limit else "no cpu limit"
                label += f" · container {c.cpu_percent:.1f}% cpu ({cpus}), {c.memory_mb:.0f}/{c.memory_limit_mb:.0f} MB"
            parts.append(f"<span style='margin-right:1em;color:{colour}'>● {s.host} {s.model} {label}</span>")
        return "".join(parts)


def _container_fields(s) -> dict[str, float]:
    """The container plots' values of one host: the engine's figures and limits; NaN without a container
    (a CPU limit of 0, none, is NaN too: no dashed line)."""
    c = s.container
    if c is None:
        return dict(_NO_CONTAINER)
    return {
        "ccpu": c.cpu_percent,
        "ccpu_lim": c.cpu_limit * 100 if c.cpu_limit else math.nan,
        "cmem": c.memory_mb,
        "cmem_lim": c.memory_limit_mb,
    }


def stop_all() -> int:
    """Stop every running monitor panel (``%stratum monitor --stop``; every panel stops at interpreter exit)."""
    return stop_panels(MonitorPanel)
