"""The live training view: progress bar, running leaderboard, worker activity (Bokeh).

A :class:`TrainingView` is an ``on_event`` callable. It keeps its state from
events at every call but sends to the frontend at most once per
``min_interval`` seconds (progress line, leaderboard) and once per
``plot_interval`` (the worker plot), plus once at the plan and at the end.
Long runs slow down further: after two minutes the intervals grow with the
elapsed time, up to ``slowdown`` times (0.5 s -> 2 s, 1 s -> 4 s). So the
number of frontend messages depends on the run's duration, never on its number
of tasks, and stays under a few per second. ``updates`` counts what was sent
(widget state updates and Bokeh document patches).

CPU and memory per worker come from a ``metrics`` callable returning
:class:`~jupyter_stratum.cluster_metrics.WorkerMetrics` rows (see
:func:`jupyter_stratum.cluster_metrics.poller_for`); without it, the worker
panel shows which worker runs what from the events alone.
"""

from __future__ import annotations

import html
import math
import re
import threading
import time
from collections.abc import Callable

from ..display import fmt_seconds
from ..evaluate.leaderboard import rank_key
from ..events import (
    ModelRegistered,
    Notice,
    PlanReady,
    RefitFinished,
    RunFinished,
    TaskFailed,
    TaskFinished,
    TaskRetried,
    TaskStarted,
)
from ..training.progress import ProgressCounter

_RUNG_KEY = re.compile(r"-r(\d+)-\d+(?:-r\d+)?$")


def rung_of(key: str) -> int:
    """The halving rung of a task from its key (``stratum-{run}-{i}-r{rung}-{fold}``); 0 otherwise."""
    m = _RUNG_KEY.search(key)
    return int(m.group(1)) if m else 0


class TrainingView:
    """Live view of a run; pass it as ``on_event`` to :func:`jupyter_stratum.train`.

    ``display``: show the widget at once (in a notebook). ``heartbeat``: seconds
    between refreshes while no event arrives (elapsed time, CPU); 0 disables the
    background refresh.
    """

    def __init__(
        self,
        *,
        metrics: Callable[[], list] | None = None,
        min_interval: float = 0.5,
        plot_interval: float = 1.0,
        heartbeat: float = 1.0,
        slowdown: float = 4.0,
        display: bool = True,
        title: str | None = None,
    ):
        import ipywidgets as w

        self.counter = ProgressCounter()
        self.metrics = metrics
        self.min_interval = min_interval
        self.plot_interval = plot_interval
        self.slowdown = slowdown
        self.heartbeat = heartbeat
        self.plan = None
        self.metric = None
        self.dashboard_link = None
        self.n_folds = 0
        self.folds: dict[str, list[dict]] = {}  # candidate -> fold scores so far (at its highest rung)
        self.rungs: dict[str, int] = {}  # halving: candidate -> the highest rung it has reached
        self.failed: dict[str, str] = {}
        self.running: dict[str, str] = {}  # worker -> "candidate fold k"
        self.running_keys: dict[str, str] = {}  # task key -> worker
        self.done_by_worker: dict[str, int] = {}
        self.seconds: dict[str, float] = {}  # candidate -> fit seconds so far
        self.notices: list[str] = []
        self.finished = False
        self.cancelled = False
        self.final_text = ""
        self.events = 0
        self.renders = 0
        self.plot_renders = 0
        self.updates = 0  # widget state updates + Bokeh patches sent
        self._last = 0.0
        self._last_plot = 0.0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent: dict[str, object] = {}

        self.title = w.HTML(f"<b>Training {html.escape(title)}</b>" if title else "<b>Training</b>")
        self.bar = w.IntProgress(
            value=0, min=0, max=1, description="tasks", bar_style="info", layout=w.Layout(width="60%")
        )
        self.status = w.HTML("Planning…")
        self.board = w.HTML("")
        self.notes = w.HTML("")
        self.plot_box = w.VBox([])
        self.source = None
        self.plot = None
        self.widget = w.VBox([self.title, w.HBox([self.bar, self.status]), self.board, self.plot_box, self.notes])
        self.widget.add_class("stratum-training")
        self._handle = None
        self._final_display = False
        # shown at the first event, not now: a spec or data error raised before the plan is made
        # leaves no "Training … Planning…" header above its message
        self._display_pending = display

    def _show(self) -> None:
        from IPython.display import display as show

        from ._bokehjs import ensure_loaded

        self._display_pending = False
        ensure_loaded()
        self._handle = show(self, display_id=True)

    # ---- events -----------------------------------------------------------
    def __call__(self, event) -> None:
        with self._lock:
            if self._display_pending:
                self._show()
            self.events += 1
            self.counter.update(event)
            force = False
            if isinstance(event, PlanReady):
                self.plan = event.plan
                self.metric = getattr(event.plan, "metric", None)
                self.n_folds = getattr(event.plan, "n_folds", 0)
                self.dashboard_link = event.dashboard_link
                for c in getattr(event.plan, "candidates", []):
                    self.folds.setdefault(c.id, [])
                force = True
                self._start_heartbeat()
            elif isinstance(event, TaskStarted):
                worker = str(event.worker)
                self.running[worker] = f"{event.candidate_id} f{event.fold}"
                self.running_keys[event.key] = worker
                self.done_by_worker.setdefault(worker, 0)
            elif isinstance(event, TaskFinished):
                worker = str(event.worker)
                rung = rung_of(event.key)
                if rung > self.rungs.get(event.candidate_id, 0):  # promoted: its scores start again at the new rung
                    self.rungs[event.candidate_id] = rung
                    self.folds[event.candidate_id] = []
                if rung == self.rungs.get(event.candidate_id, 0):
                    self.folds.setdefault(event.candidate_id, []).append(dict(event.scores))
                self.done_by_worker[worker] = self.done_by_worker.get(worker, 0) + 1
                self.seconds[event.candidate_id] = self.seconds.get(event.candidate_id, 0.0) + event.seconds
                self._task_left(event.key, worker)
            elif isinstance(event, TaskFailed):
                # the first failed fold says why; the candidate's other folds count as failed too
                self.failed.setdefault(event.candidate_id, f"fold {event.fold}: {event.error.splitlines()[0][:200]}")
                self._task_left(event.key, self.running_keys.get(event.key))
            elif isinstance(event, TaskRetried):
                self._task_left(event.key, self.running_keys.get(event.key))
            elif isinstance(event, Notice):
                self.notices.append(f"{event.level}: {event.message}")
            elif isinstance(event, RunFinished):
                self.finished = True
                self.running.clear()
                self.cancelled = event.cancelled
                self.final_text = " (stopped)" if event.cancelled else ""
                force = True
                self._stop_heartbeat()
                self._final_display = True
            elif isinstance(event, RefitFinished):
                self.notices.append(f"refit {event.candidate_id} on {event.worker} in {fmt_seconds(event.seconds)}")
                force = True
            elif isinstance(event, ModelRegistered):
                self.notices.append(f"registered as {event.ref}")
                force = True
            self.render(force)
            if self._final_display and self._handle is not None:
                # frontends without the widget manager keep this text, not "Planning…"
                self._final_display = False
                self._handle.update(self)

    def _task_left(self, key: str, worker: str | None) -> None:
        self.running_keys.pop(key, None)
        if worker is not None and not any(w == worker for w in self.running_keys.values()):
            self.running.pop(worker, None)

    # ---- rendering ---------------------------------------------------------
    def render(self, force: bool = False) -> None:
        """Send what changed, at most once per ``min_interval`` (``force``: now)."""
        with self._lock:
            now = time.monotonic()
            # 1x for the first two minutes, then growing with the elapsed time, up to `slowdown` x
            stretch = min(max(1.0, self.counter.elapsed / 120.0), max(self.slowdown, 1.0)) if self.plan else 1.0
            if force or now - self._last >= self.min_interval * stretch:
                self._last = now
                self.renders += 1
                self._render_text()
            if self.plan is not None and (force or now - self._last_plot >= self.plot_interval * stretch):
                self._last_plot = now
                self.plot_renders += 1
                self._render_plot()

    def _set(self, widget, name: str, **values) -> None:
        """Set traits, one message per widget, none when nothing changed."""
        if self._sent.get(name) == values:
            return
        self._sent[name] = values
        with widget.hold_sync():
            for k, v in values.items():
                setattr(widget, k, v)
        self.updates += 1

    def _render_text(self) -> None:
        c = self.counter
        total = max(c.total, 1)
        style = "danger" if c.failed else "warning" if self.cancelled else "success" if self.finished else "info"
        self._set(self.bar, "bar", max=total, value=min(c.done + c.failed, total), bar_style=style)
        parts = [f"<b>{c.done}</b>/{c.total} tasks", f"elapsed {fmt_seconds(c.elapsed)}"]
        if c.eta is not None and not self.finished:
            parts.append(f"ETA {fmt_seconds(c.eta)}")
        if c.failed:
            parts.append(f'<span style="color:#c62828">{c.failed} fold{"s" if c.failed != 1 else ""} failed</span>')
        if c.retried:
            parts.append(f'<span style="color:#ef6c00">{c.retried} retried</span>')
        if self.finished:
            parts.append("stopped: nothing registered" if self.cancelled else "done")
        if self.dashboard_link:
            parts.append(f'<a href="{html.escape(self.dashboard_link)}" target="_blank">Dask dashboard</a>')
        self._set(self.status, "status", value=" · ".join(parts))
        self._set(self.board, "board", value=self.leaderboard_html())
        if self.notices:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in self.notices[-8:])
            self._set(self.notes, "notes", value=f'<ul style="margin:2px 0">{items}</ul>')

    def leaderboard_rows(self) -> list[dict]:
        """Candidates by mean selection score so far (mean ± std over the folds done), finished
        candidates first (:func:`~jupyter_stratum.evaluate.leaderboard.rank_key` with ``complete``),
        with each one's folds done and status: done, running, queued, failed, or stopped (after Stop)."""
        import numpy as np

        metric = self.metric
        rows = []
        for cid, folds in self.folds.items():
            values = [f[metric] for f in folds if metric in f and not math.isnan(f[metric])] if metric else []
            mean = float(np.mean(values)) if values else math.nan
            std = float(np.std(values)) if values else math.nan
            complete = bool(self.n_folds) and len(folds) >= self.n_folds
            if cid in self.failed:
                status = "failed"
            elif complete:
                status = "done"
            elif self.finished:
                status = "stopped"  # the run ended (Stop) before this candidate's folds did
            elif any(v.startswith(cid + " f") for v in self.running.values()) or folds:
                status = "running"
            else:
                status = "queued"
            rows.append(
                {
                    "candidate": cid,
                    "mean": mean,
                    "std": std,
                    "folds": len(folds),
                    "status": status,
                    "complete": complete,
                    "n_scores": len(values),
                    "rung": self.rungs.get(cid, 0),
                }
            )
        if metric:
            rows.sort(
                key=lambda r: rank_key(
                    r["mean"],
                    self.seconds.get(r["candidate"], 0.0),
                    metric,
                    failed=r["status"] == "failed",
                    complete=r["complete"],
                    rung=r["rung"],
                )
            )
        return rows

    def leaderboard_html(self, limit: int = 15) -> str:
        rows = self.leaderboard_rows()
        if not rows or self.metric is None:
            return ""
        head = (
            f"<tr><th>#</th><th>candidate</th><th>{html.escape(self.metric)}: mean ± std over the folds done</th>"
            f"<th>folds</th><th>status</th>{'<th>rung</th>' if self.rungs else ''}</tr>"
        )
        body = []
        for i, r in enumerate(rows[:limit]):
            best = i == 0 and r["complete"] and not math.isnan(r["mean"])
            style = ' style="font-weight:bold;background:rgba(46,125,50,0.12)"' if best else ""
            if math.isnan(r["mean"]):
                score = "–"
            else:
                n = r["n_scores"]
                score = f"{r['mean']:.4f} ± {r['std']:.4f}" + (
                    "" if r["complete"] else f' <span style="opacity:0.7">({n} fold{"s" if n != 1 else ""})</span>'
                )
            status = r["status"]
            if status == "failed":
                error = html.escape(self.failed[r["candidate"]])
                status = f'<span style="color:#c62828" title="{error}">failed: {error}</span>'
            body.append(
                f'<tr{style}><td>{i + 1}</td><td style="white-space:nowrap">{html.escape(r["candidate"])}</td>'
                f"<td>{score}</td><td>{r['folds']}/{self.n_folds}</td><td>{status}</td>"
                + (f"<td>{r['rung']}</td>" if self.rungs else "")
                + "</tr>"
            )
        more = f"<p>… and {len(rows) - limit} more candidates</p>" if len(rows) > limit else ""
        return f'<table class="stratum-live-leaderboard">{head}{"".join(body)}</table>{more}'

    def worker_rows(self) -> dict[str, list]:
        """The worker panel's data: one entry per worker (from metrics and events)."""
        readings = {}
        if self.metrics is not None:
            try:
                readings = {m.name: m for m in self.metrics()}
            except Exception:  # noqa: BLE001 - the panel must never break the run
                readings = {}
        workers = sorted(set(readings) | set(self.done_by_worker) | set(self.running))
        gib = 2**30
        data = {
            "worker": workers,
            "cpu": [],
            "memory_gb": [],
            "limit_gb": [],
            "done": [],
            "running": [],
            "cpu_label": [],
        }
        for name in workers:
            m = readings.get(name)
            data["cpu"].append(round(float(m.cpu), 1) if m else 0.0)
            data["memory_gb"].append(round(m.memory / gib, 3) if m else 0.0)
            data["limit_gb"].append(round(m.memory_limit / gib, 2) if m and m.memory_limit else 0.0)
            data["done"].append(self.done_by_worker.get(name, 0))
            data["running"].append(self.running.get(name, ""))
            data["cpu_label"].append(f"{m.cpu:.0f}%" if m else "")
        return data

    def _render_plot(self) -> None:
        from . import plots

        data = self.worker_rows()
        if not data["worker"]:
            return
        if self.source is None or list(self.source.data["worker"]) != data["worker"]:
            # first reading, or the set of workers changed: (re)build the figure
            from jupyter_bokeh import BokehModel

            self.source = plots.worker_activity_source(data["worker"])
            self.source.data = data
            self.plot = BokehModel(plots.worker_activity_figure(self.source))
            self.plot_box.children = (self.plot,)
            self.updates += 2  # the new widget, the box's children
            self._sent["plot"] = data
            return
        if self._sent.get("plot") == data:
            return
        self._sent["plot"] = data
        self.source.data = data  # one document patch
        self.updates += 1

    # ---- background refresh -------------------------------------------------
    def _start_heartbeat(self) -> None:
        if self.heartbeat and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="stratum-training-view", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat) and not self.finished:
            try:
                self.render()
            except Exception:  # noqa: BLE001 - e.g. the kernel is shutting down
                return

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def close(self) -> None:
        """The run is over: stop refreshing, and leave a static copy (progress line, leaderboard,
        notices) in place of the widget, readable after a reload, a kernel restart or an export."""
        self._stop_heartbeat()
        with self._lock:
            if self.plan is not None and not self.finished:
                # no RunFinished: Stop (or an error) before the tasks were out; nothing is queued any more
                self.finished = self.cancelled = True
                self.final_text = " (stopped)"
                self.running.clear()
            if self.plan is not None:
                self._render_text()
                if self._handle is not None:
                    self._handle.update(self.static_bundle(), raw=True)

    def static_bundle(self) -> dict:
        """The view's last state as HTML and text, no widget."""
        line = self.counter.line() + (" — done" + self.final_text if self.finished else "")
        notes = self.notes.value if self.notices else ""
        return {
            "text/html": f'<div class="stratum-training-static">{self.title.value}<p>{self.status.value}</p>'
            f"{self.board.value}{notes}</div>",
            "text/plain": line,
        }

    # ---- display ------------------------------------------------------------
    def to_text(self) -> str:
        return self.counter.line()

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        line = (
            (self.counter.line() + (" — done" + self.final_text if self.finished else "")) if self.plan else "Planning…"
        )
        bundle["text/plain"] = line
        bundle["text/html"] = f"<p>Training: {html.escape(line)}</p>"
        return bundle
