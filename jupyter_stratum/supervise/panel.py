"""The live panel of ``%stratum supervise``: drift per feature over time, live accuracy per host and the
stages of a rollout, all read from the registry's events (:func:`timeline`, one function), so the panel
shows the same story as ``stratum events NAME``, for a supervisor running here or anywhere else.

In a notebook the supervisor polls in a daemon thread; the Bokeh models change on the kernel's event
loop (``call_soon_threadsafe``), as in :mod:`jupyter_stratum.monitor.panel`. ``stop()`` ends the loop."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from datetime import datetime

from ..widgets.live_panel import LivePanel, stop_panels
from .promotion import APPROVED, STAGE
from .supervisor import (
    DECIDED,
    OBSERVED,
    PENDING_APPROVAL,
    PROMOTED,
    REJECTED,
    RETRAIN_FAILED,
    RETRAINED,
    STAGE_FAILED,
)

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_STORY = (DECIDED, RETRAINED, RETRAIN_FAILED, STAGE, STAGE_FAILED, PENDING_APPROVAL, APPROVED, PROMOTED, REJECTED)


@dataclass
class StoryRow:
    """One decision or rollout step, as the panel's table lists it."""

    time: str
    kind: str
    version: int | None
    text: str


@dataclass
class Timeline:
    """What the panel shows. Times are milliseconds since the epoch (Bokeh's datetime axis)."""

    #: feature -> (times, the highest drift score over the hosts at each poll)
    drift: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    #: host -> (times, its live metric at each poll that had one)
    live: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    metric: str = ""
    story: list[StoryRow] = field(default_factory=list)
    polls: int = 0


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000.0


def _story_text(e) -> str:
    d = e.details
    if e.kind == DECIDED:
        mode = " (dry run)" if d.get("dry_run") else ""
        return f"{d.get('action')}{mode}: " + "; ".join(d.get("reasons") or [])
    if e.kind == STAGE:
        figures = d.get("figures") or {}
        gain = f", gain {figures['gain']:+.4f}" if "gain" in figures else ""
        back = ", rolled back" if d.get("rolled_back") else ""
        return f"{d.get('stage')} {d.get('status')} on {', '.join(d.get('hosts') or [])}{gain}{back}"
    if e.kind == RETRAINED:
        resumed = " (resumed)" if d.get("resumed") else ""
        return f"retrained from version {d.get('parent')} with {d.get('captured_rows')} captured rows{resumed}"
    if e.kind in (REJECTED, RETRAIN_FAILED, STAGE_FAILED):
        return str(d.get("reason") or d.get("error") or "")
    if e.kind == PROMOTED:
        return f"champion (was {d.get('previous_champion')})"
    return ""


def timeline(events) -> Timeline:
    """The panel's data from a model's events (``registry.events(NAME)``), oldest first."""
    out = Timeline()
    for e in events:
        if e.kind == OBSERVED:
            out.polls += 1
            t = _ms(e.time)
            best: dict[str, float] = {}
            for h in e.details.get("hosts") or []:
                for feature, score in (h.get("scores") or {}).items():
                    best[feature] = max(best.get(feature, 0.0), float(score))
                if h.get("live_value") is not None:
                    out.metric = h.get("live_metric") or out.metric
                    times, values = out.live.setdefault(str(h["host"]), ([], []))
                    times.append(t)
                    values.append(float(h["live_value"]))
            for feature, score in best.items():
                times, values = out.drift.setdefault(feature, ([], []))
                times.append(t)
                values.append(score)
        elif e.kind in _STORY:
            out.story.append(
                StoryRow(e.time[:19].replace("T", " "), e.kind.removeprefix("supervise_"), e.version, _story_text(e))
            )
    return out


def _lines(series: dict[str, tuple[list[float], list[float]]]) -> dict[str, list]:
    names = sorted(series)
    return {
        "xs": [series[n][0] for n in names],
        "ys": [series[n][1] for n in names],
        "name": names,
        "color": [_PALETTE[i % len(_PALETTE)] for i in range(len(names))],
    }


def _story_html(rows: list[StoryRow], last: int = 12) -> str:
    from html import escape

    if not rows:
        return "<i>no decision yet</i>"
    body = "".join(
        f"<tr><td>{escape(r.time)}</td><td>{escape(r.kind)}</td><td>{'' if r.version is None else r.version}</td>"
        f"<td>{escape(r.text)}</td></tr>"
        for r in rows[-last:]
    )
    return (
        "<table style='font-size:85%'><tr><th>time (UTC)</th><th>event</th><th>version</th><th></th></tr>"
        f"{body}</table>"
    )


class SupervisePanel(LivePanel):
    """Drift scores per feature (1 = the alarm threshold), live metric per host, and the story."""

    def __init__(self, registry, name: str):
        from bokeh.layouts import column, row
        from bokeh.models import ColumnDataSource
        from bokeh.models.annotations import Span
        from bokeh.models.widgets import Div
        from bokeh.plotting import figure

        self.registry, self.name = registry, name
        self.updates = 0
        self.drift_source = ColumnDataSource(_lines({}))
        self.live_source = ColumnDataSource(_lines({}))
        drift = figure(title="Drift score per feature (>= 1: drifted)", x_axis_type="datetime", height=220, width=460)
        drift.multi_line("xs", "ys", source=self.drift_source, color="color", legend_field="name", line_width=2)
        drift.add_layout(Span(location=1.0, dimension="width", line_dash="dashed", line_color="#c62828"))
        self.live_figure = figure(title="Live metric per host", x_axis_type="datetime", height=220, width=460)
        self.live_figure.multi_line(
            "xs", "ys", source=self.live_source, color="color", legend_field="name", line_width=2
        )
        for f in (drift, self.live_figure):
            f.legend.location = "top_left"
            f.legend.label_text_font_size = "8pt"
        self.status = Div(text="")
        self.story = Div(text=_story_html([]))
        self.layout = column(
            Div(text=f"<b>supervise {name}</b>"), self.status, row(drift, self.live_figure), self.story
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()
        self.register()

    def refresh(self) -> Timeline:
        """Read the events again and redraw (runs on the kernel's loop in a notebook)."""
        t = timeline(self.registry.events(self.name))
        self.drift_source.data = _lines(t.drift)
        self.live_source.data = _lines(t.live)
        from bokeh.models.annotations import Title

        title = self.live_figure.title
        if isinstance(title, Title):
            title.text = f"Live {t.metric or 'metric'} per host"
        aliases = ", ".join(f"{a.alias}={a.version}" for a in self.registry.aliases(self.name)) or "no alias"
        state = "polling" if self.running else "stopped"
        self.status.text = f"{t.polls} polls · {aliases} · {state}"
        self.story.text = _story_html(t.story)
        self.updates += 1
        return t

    # -- the supervisor's loop -----------------------------------------------------
    def start(self, supervisor, every: float) -> SupervisePanel:
        """Poll with ``supervisor`` every ``every`` seconds in a daemon thread; redraw after each poll."""
        self.watch_kernel_loop()
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    supervisor.run_once()
                except Exception as exc:  # noqa: BLE001 - shown on the panel; the next poll tries again
                    self.schedule(functools.partial(setattr, self.status, "text", f"poll failed: {exc}"))
                else:
                    self.schedule(self.refresh)
                self._stop.wait(every)

        self._thread = threading.Thread(target=loop, name=f"stratum-supervise-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling (after the poll under way); the panel keeps what it shows."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.refresh()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()


def stop_all() -> int:
    """Stop every polling supervise panel (every panel stops at interpreter exit)."""
    return stop_panels(SupervisePanel)
