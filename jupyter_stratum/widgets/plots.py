"""Bokeh figures of training results and live training state.

Pure functions from results (:mod:`jupyter_stratum.training.results`) or plain rows to
Bokeh models; no ipywidgets here. The notebook views (``evaluation_view``,
``training_view``) wrap these in ``jupyter_bokeh.BokehModel``; the standalone
report (``report``) embeds the same figures in one HTML file.

Every renderer that carries data has a ``name`` (``roc:<candidate>``,
``confusion``, ``predicted``...) so that tests and callers can find it.
"""

from __future__ import annotations

import math

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    Div,
    HoverTool,
    HTMLTemplateFormatter,
    LinearColorMapper,
    NumberFormatter,
    Range1d,
    StringFormatter,
    TableColumn,
    TabPanel,
    Tabs,
)
from bokeh.palettes import Category10_10, Category20_20
from bokeh.plotting import figure
from bokeh.transform import transform

from ..evaluate.metrics import METRICS

#: one figure's width: two side by side (ROC and PR, CPU and memory) and the wide ones (2 × WIDTH) fit the
#: output area of a notebook in a 1280-px window with the sidebar open (about 840 px)
WIDTH = 400
HEIGHT = 400
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def palette(n: int) -> list[str]:
    if n <= 10:
        return list(Category10_10[: max(n, 1)])
    return [Category20_20[i % 20] for i in range(n)]


def _finite(values) -> list:
    """A JSON-friendly list: inf/-inf become NaN (thresholds start at +inf)."""
    arr = np.asarray(values, dtype=float)
    return np.where(np.isfinite(arr), arr, np.nan).tolist()


def scored(candidates) -> list:
    """Candidates that finished with folds (failed ones have nothing to plot)."""
    return [c for c in candidates if not c.failed and c.folds]


def candidate_colors(candidates) -> dict[str, str]:
    ids = [c.id for c in candidates]
    return dict(zip(ids, palette(len(ids))))


# --------------------------------------------------------------------------- leaderboard
def leaderboard_source(result) -> ColumnDataSource:
    """One row per candidate (leaderboard order): rank, every metric's mean and std, fit s, workers."""
    board = result.leaderboard
    best = result.best.id if result.best is not None else None
    data: dict[str, list] = {
        "rank": [],
        "candidate": [],
        "algorithm": [],
        "best": [],
        "fit_seconds": [],
        "folds": [],
        "workers": [],
        "status": [],
    }
    for m in board.metrics:
        data[m] = []
        data[f"{m}_std"] = []
    for rank, c in enumerate(board.candidates, 1):
        data["rank"].append(rank)
        data["candidate"].append(c.id)
        data["algorithm"].append(c.class_name)
        data["best"].append(c.id == best)
        data["fit_seconds"].append(c.fit_seconds)
        data["folds"].append(len(c.folds))
        data["workers"].append(", ".join(c.workers))
        data["status"].append("failed: " + c.error.splitlines()[0][:120] if c.failed else "ok")
        for m in board.metrics:
            data[m].append(c.mean(m))
            data[f"{m}_std"].append(c.std(m))
    return ColumnDataSource(data, name="leaderboard")


#: the leaderboard's widest: what a notebook at 1280 px shows beside the sidebar; it scrolls beyond
#: (the rank and candidate columns stay put)
TABLE_MAX_WIDTH = 800
#: the metrics shown by default besides the selection metric (the others behind "all columns")
DEFAULT_EXTRA_METRICS = 1
MORE = "more"  # the tag of a column hidden by default


def leaderboard_table(result, width: int | None = None, compact: bool = True) -> DataTable:
    """A sortable table (click a header), the best candidate marked ★ and in bold.

    ``compact``: only the selection metric with its spread, the first other metrics, fit time,
    folds and status show; the rest are columns tagged :data:`MORE` (``visible=False``), which
    :func:`show_all_columns` shows. The rank and candidate columns are frozen: a horizontal
    scroll never takes the candidate away."""
    source = leaderboard_source(result)
    board = result.leaderboard
    star = HTMLTemplateFormatter(
        template=('<% if (best) { %><b style="color:#2e7d32">★ <%= value %></b><% } else { %><%= value %><% } %>')
    )
    columns = [
        TableColumn(field="rank", title="#", width=30),
        TableColumn(field="candidate", title="candidate", formatter=star, width=220),
    ]
    others = [m for m in board.metrics if m != board.metric]
    shown = {board.metric, *others[:DEFAULT_EXTRA_METRICS]} if compact else set(board.metrics)
    for m in [board.metric, *others]:
        arrow = "↑" if METRICS[m].greater_is_better else "↓"
        title = f"{m} {arrow}" + (" (selection)" if m == board.metric else "")
        columns.append(
            TableColumn(
                field=m,
                title=title,
                formatter=NumberFormatter(format="0.0000"),
                width=max(80, 8 * len(title)),
                visible=m in shown,
                tags=[] if m in shown else [MORE],
            )
        )
        std_shown = m == board.metric or not compact
        columns.append(
            TableColumn(
                field=f"{m}_std",
                title="± std",
                formatter=NumberFormatter(format="0.0000"),
                width=60,
                visible=std_shown,
                tags=[] if std_shown else [MORE],
            )
        )
    columns += [
        TableColumn(field="fit_seconds", title="fit s", formatter=NumberFormatter(format="0.00"), width=60),
        TableColumn(field="folds", title="folds", width=45),
        TableColumn(
            field="workers",
            title="workers",
            formatter=StringFormatter(),
            width=120,
            visible=not compact,
            tags=[MORE] if compact else [],
        ),
        TableColumn(field="status", title="status", width=90),
    ]
    height = 30 + 28 * max(len(board.candidates), 1)
    if width is None:  # as wide as the shown columns, up to what a notebook shows; it scrolls beyond
        width = min(sum(c.width for c in columns if c.visible) + 20, TABLE_MAX_WIDTH if compact else 1180)
    return DataTable(
        source=source,
        columns=columns,
        sortable=True,
        index_position=None,
        width=width,
        height=min(height, 600),
        name="leaderboard",
        fit_columns=False,
        frozen_columns=2,
    )


def show_all_columns(table: DataTable, show: bool) -> None:
    """Show (or hide again) the columns :func:`leaderboard_table` hid; the table widens up to its limit."""
    for col in table.columns:
        if MORE in col.tags:
            col.visible = show
    table.width = min(sum(c.width for c in table.columns if c.visible) + 20, TABLE_MAX_WIDTH)


# --------------------------------------------------------------------------- ROC / PR
def _chance(p, x, y, name):
    p.line(x, y, line_dash="dashed", color="#9e9e9e", name=name)


def roc_figure(candidates, pos_label=None, best_id: str | None = None, title: str | None = None):
    """All candidates' out-of-fold ROC curves on one plot; AUC in the legend.

    ``pos_label``: the positive class (binary: the last class by default;
    multiclass: the class of the one-vs-rest curve).
    """
    cands = scored(candidates)
    colors = candidate_colors(cands)
    label = None
    p = figure(
        width=WIDTH,
        height=HEIGHT,
        tools=TOOLS,
        x_range=Range1d(-0.01, 1.01),
        y_range=Range1d(-0.01, 1.01),
        x_axis_label="false positive rate",
        y_axis_label="true positive rate",
        name="roc",
    )
    _chance(p, [0, 1], [0, 1], "chance")
    for c in cands:
        roc = c.roc_curve(pos_label)
        if roc is None:
            continue
        label = roc["pos_label"]
        source = ColumnDataSource(
            {"fpr": _finite(roc["fpr"]), "tpr": _finite(roc["tpr"]), "threshold": _finite(roc["thresholds"])},
            name=f"roc:{c.id}",
        )
        r = p.line(
            "fpr",
            "tpr",
            source=source,
            color=colors[c.id],
            line_width=3 if c.id == best_id else 2,
            legend_label=f"{c.id} (AUC {roc['auc']:.3f})",
            name=f"roc:{c.id}",
        )
        r.tags = [{"candidate": c.id, "auc": roc["auc"], "pos_label": str(label)}]
    p.title.text = title or (f"ROC (out-of-fold), positive class {label}" if label is not None else "ROC")
    _legend(p)
    p.add_tools(
        HoverTool(
            tooltips=[
                ("candidate", "$name"),
                ("FPR", "@fpr{0.000}"),
                ("TPR", "@tpr{0.000}"),
                ("threshold", "@threshold{0.000}"),
            ],
            renderers=[r for r in p.renderers if r.name.startswith("roc:")],
        )
    )
    return p


def pr_figure(candidates, pos_label=None, best_id: str | None = None, title: str | None = None):
    """Precision-recall curves of all candidates; average precision in the legend."""
    cands = scored(candidates)
    colors = candidate_colors(cands)
    label = None
    p = figure(
        width=WIDTH,
        height=HEIGHT,
        tools=TOOLS,
        x_range=Range1d(-0.01, 1.01),
        y_range=Range1d(-0.01, 1.01),
        x_axis_label="recall",
        y_axis_label="precision",
        name="pr",
    )
    for c in cands:
        pr = c.pr_curve(pos_label)
        if pr is None:
            continue
        label = pr["pos_label"]
        source = ColumnDataSource(
            {"recall": _finite(pr["recall"]), "precision": _finite(pr["precision"])}, name=f"pr:{c.id}"
        )
        r = p.line(
            "recall",
            "precision",
            source=source,
            color=colors[c.id],
            line_width=3 if c.id == best_id else 2,
            legend_label=f"{c.id} (AP {pr['average_precision']:.3f})",
            name=f"pr:{c.id}",
        )
        r.tags = [{"candidate": c.id, "average_precision": pr["average_precision"], "pos_label": str(label)}]
    p.title.text = title or (f"Precision-recall, positive class {label}" if label is not None else "Precision-recall")
    _legend(p, "bottom_left")
    return p


def _legend(p, location: str = "bottom_right") -> None:
    if p.legend:
        p.legend.location = location
        p.legend.click_policy = "hide"
        p.legend.label_text_font_size = "9pt"
        p.legend.background_fill_alpha = 0.7


def has_scores(candidates) -> bool:
    return any(c.y_score is not None for c in scored(candidates))


# --------------------------------------------------------------------------- confusion matrix
def confusion_figure(
    candidate, normalize: str | None = None, title: str | None = None, y_true=None, y_pred=None, classes=None
):
    """Confusion matrix (rows: actual, columns: predicted) of a candidate's out-of-fold predictions.

    ``normalize``: None (counts), "true", "pred" or "all", as in sklearn.
    With ``y_true``/``y_pred`` given it draws those instead (e.g. the holdout).
    """
    from sklearn.metrics import confusion_matrix

    classes = list(classes if classes is not None else candidate.classes)
    if y_true is None:
        matrix = candidate.confusion_matrix(normalize)
    else:
        matrix = confusion_matrix(y_true, y_pred, labels=classes, normalize=normalize)
    names = [str(c) for c in classes]
    actual, predicted, value, text = [], [], [], []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            v = float(matrix[i, j])
            actual.append(a)
            predicted.append(b)
            value.append(v)
            text.append(f"{v:.2f}" if normalize else f"{int(v)}")
    source = ColumnDataSource(
        {
            "actual": actual,
            "predicted": predicted,
            "value": value,
            "text": text,
            "row": [i for i in range(len(names)) for _ in names],
            "col": [j for _ in names for j in range(len(names))],
        },
        name="confusion",
    )
    size = min(max(280, 60 * len(names)), 560)
    title = title or f"Confusion matrix: {candidate.id}" + (f" (normalised: {normalize})" if normalize else "")
    p = figure(
        width=max(size + 80, min(7 * len(title) + 40, 720)),
        height=size,
        x_range=names,
        y_range=list(reversed(names)),
        tools="hover,save",
        x_axis_label="predicted",
        y_axis_label="actual",
        name="confusion_matrix",
        tooltips=[("actual", "@actual"), ("predicted", "@predicted"), ("value", "@text")],
        toolbar_location="right",
    )
    high = float(matrix.max()) if matrix.size else 1.0
    mapper = LinearColorMapper(palette="Blues256", low=high, high=0)  # dark = many
    p.rect(
        x="predicted",
        y="actual",
        width=1,
        height=1,
        source=source,
        fill_color=transform("value", mapper),
        line_color="white",
        name="confusion",
    )
    source.data["text_color"] = ["white" if v > high / 2 else "black" for v in value]
    p.text(
        x="predicted",
        y="actual",
        text="text",
        source=source,
        text_align="center",
        text_baseline="middle",
        text_color="text_color",
        name="confusion_text",
    )
    p.grid.visible = False
    p.axis.major_tick_line_color = None
    p.title.text = title
    return p


def confusion_matrix_of(fig) -> np.ndarray:
    """The matrix a confusion figure shows, rebuilt from its data source (for tests and exports)."""
    source = next(r.data_source for r in fig.renderers if r.name == "confusion")
    n = max(source.data["row"]) + 1
    matrix = np.zeros((n, n))
    for i, j, v in zip(source.data["row"], source.data["col"], source.data["value"]):
        matrix[i, j] = v
    return matrix


# --------------------------------------------------------------------------- regression
def regression_figures(candidate, title: str | None = None, y_true=None, y_pred=None):
    """(predicted vs actual, residuals vs predicted) of a candidate's out-of-fold predictions."""
    if y_true is None:
        res = candidate.residuals()
        y_true, y_pred = res["y_true"], res["y_pred"]
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    residual = y_true - y_pred
    source = ColumnDataSource(
        {"y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "residual": residual.tolist()}, name="regression"
    )
    lo = float(min(y_true.min(), y_pred.min())) if len(y_true) else 0.0
    hi = float(max(y_true.max(), y_pred.max())) if len(y_true) else 1.0
    tips = [("actual", "@y_true{0.000}"), ("predicted", "@y_pred{0.000}"), ("residual", "@residual{0.000}")]
    label = title or candidate.id
    p1 = figure(
        width=WIDTH,
        height=HEIGHT,
        tools=TOOLS + ",hover",
        tooltips=tips,
        x_axis_label="actual",
        y_axis_label="predicted",
        title=f"Predicted vs actual: {label}",
        name="predicted_vs_actual",
    )
    p1.line([lo, hi], [lo, hi], line_dash="dashed", color="#9e9e9e", name="identity")
    p1.scatter("y_true", "y_pred", source=source, size=5, alpha=0.6, name="predicted")
    p2 = figure(
        width=WIDTH,
        height=HEIGHT,
        tools=TOOLS + ",hover",
        tooltips=tips,
        x_axis_label="predicted",
        y_axis_label="residual (actual − predicted)",
        title=f"Residuals: {label}",
        name="residuals",
    )
    p2.line([lo, hi], [0, 0], line_dash="dashed", color="#9e9e9e", name="zero")
    p2.scatter("y_pred", "residual", source=source, size=5, alpha=0.6, color="#d62728", name="residual")
    return p1, p2


# --------------------------------------------------------------------------- CV spread
def cv_spread_figure(candidates, metric: str, best_id: str | None = None):
    """Each candidate's fold scores (dots), their range (line) and mean (tick)."""
    cands = scored(candidates)
    ids = [c.id for c in cands]
    colors = candidate_colors(cands)
    points = {"candidate": [], "score": [], "fold": [], "worker": [], "color": []}
    summary = {"candidate": [], "mean": [], "low": [], "high": [], "std": []}
    for c in cands:
        scores = c.fold_scores(metric)
        folds = sorted(c.folds, key=lambda f: f.fold)
        for f, s in zip(folds, scores):
            points["candidate"].append(c.id)
            points["score"].append(float(s))
            points["fold"].append(f.fold)
            points["worker"].append(f.worker)
            points["color"].append(colors[c.id])
        finite = [s for s in scores if not math.isnan(s)]
        if finite:
            summary["candidate"].append(c.id)
            summary["mean"].append(float(np.mean(finite)))
            summary["low"].append(float(min(finite)))
            summary["high"].append(float(max(finite)))
            summary["std"].append(float(np.std(finite)))
    height = max(220, 40 * len(ids) + 80)
    p = figure(
        width=2 * WIDTH,
        height=height,
        y_range=list(reversed(ids)),
        tools=TOOLS,
        x_axis_label=metric + (" (higher is better)" if METRICS[metric].greater_is_better else " (lower is better)"),
        title=f"CV spread of {metric}: fold scores, range and mean",
        name="cv_spread",
    )
    sum_src = ColumnDataSource(summary, name="cv_summary")
    p.segment(
        x0="low",
        x1="high",
        y0="candidate",
        y1="candidate",
        source=sum_src,
        line_width=2,
        color="#9e9e9e",
        name="cv_range",
    )
    p.scatter("mean", "candidate", source=sum_src, marker="dash", size=22, line_width=3, color="black", name="cv_mean")
    pts = p.scatter(
        "score",
        "candidate",
        source=ColumnDataSource(points, name="cv_points"),
        size=9,
        alpha=0.8,
        color="color",
        name="cv_points",
    )
    p.add_tools(
        HoverTool(
            renderers=[pts],
            tooltips=[
                ("candidate", "@candidate"),
                ("fold", "@fold"),
                ("score", "@score{0.0000}"),
                ("worker", "@worker"),
            ],
        )
    )
    if best_id in ids:
        p.yaxis.major_label_text_font_style = "normal"
    return p


# --------------------------------------------------------------------------- cost
def cost_figure(candidates):
    """Fit seconds per candidate, stacked by the worker each fold ran on."""
    cands = [c for c in candidates if c.folds]
    ids = [c.id for c in cands]
    workers = sorted({f.worker for c in cands for f in c.folds})
    data = {"candidate": ids}
    for w in workers:
        data[w] = [float(sum(f.fit_seconds for f in c.folds if f.worker == w)) for c in cands]
    data["total"] = [c.fit_seconds for c in cands]
    data["where"] = [", ".join(c.workers) for c in cands]
    source = ColumnDataSource(data, name="cost")
    height = max(220, 40 * len(ids) + 80)
    p = figure(
        width=2 * WIDTH,
        height=height,
        y_range=list(reversed(ids)),
        tools=TOOLS,
        x_axis_label="fit seconds (sum over folds)",
        title="Cost: fit seconds per candidate, by worker",
        name="cost",
    )
    if workers:
        p.hbar_stack(
            workers,
            y="candidate",
            height=0.7,
            source=source,
            color=palette(len(workers)),
            legend_label=workers,
            name="cost",
        )
        legend = p.legend[0]  # above the plot, in a row: inside it would cover the bars
        legend.orientation = "horizontal"
        legend.label_text_font_size = "9pt"
        p.center = [r for r in p.center if r is not legend]
        p.add_layout(legend, "above")
    p.add_tools(HoverTool(tooltips=[("candidate", "@candidate"), ("fit s", "@total{0.00}"), ("workers", "@where")]))
    p.x_range.start = 0
    return p


# --------------------------------------------------------------------------- deployment (constraints)
def pareto_figures(footprints, front, chosen, metric: str, limits: dict | None = None):
    """Score against single-row latency and against size, one point per measured finalist: the Pareto
    front (no other finalist is as good on score, latency and size and better on one) joined by a line,
    the best that fits marked with a star, the limits drawn as dashed lines, misses in grey."""
    from bokeh.models import Span

    limits = limits or {}
    on_front = {id(f) for f in front}
    data = {
        "candidate": [f.candidate_id for f in footprints],
        "score": [float(f.score) for f in footprints],
        "latency_ms": [float(f.latency_ms) for f in footprints],
        "size_mb": [float(f.size_mb) for f in footprints],
        "runtime": [f.runtime for f in footprints],
        "fits": ["yes" if f.fits else "no: " + ", ".join(f.misses) for f in footprints],
        "front": ["yes" if id(f) in on_front else "no" for f in footprints],
        "color": [("#1f77b4" if id(f) in on_front else "#6baed6") if f.fits else "#aaaaaa" for f in footprints],
    }
    figures = []
    for x, label, limit in (
        ("latency_ms", "single-row latency (ms)", limits.get("latency_ms")),
        ("size_mb", "serialized size (MB)", limits.get("size_mb")),
    ):
        source = ColumnDataSource(data, name=f"pareto_{x}")
        p = figure(
            width=WIDTH,
            height=HEIGHT,
            tools=TOOLS,
            x_axis_label=label,
            y_axis_label=metric,
            title=f"{metric} vs {label.split(' (')[0]}",
            name=f"pareto_{x}",
        )
        p.scatter(x, "score", source=source, size=9, color="color", line_color="#333333", name="finalists")
        ordered = sorted(front, key=lambda f: getattr(f, x))
        if ordered:
            p.line(
                [getattr(f, x) for f in ordered],
                [f.score for f in ordered],
                line_dash="dotted",
                color="#1f77b4",
                name="front",
            )
        if chosen is not None:
            p.scatter(
                [getattr(chosen, x)],
                [chosen.score],
                marker="star",
                size=20,
                color="#d62728",
                legend_label=f"chosen: {chosen.candidate_id}",
                name="chosen",
            )
            p.legend.location = "bottom_right"
            p.legend.label_text_font_size = "9pt"
        if limit is not None:
            p.add_layout(
                Span(location=limit, dimension="height", line_dash="dashed", line_color="#d62728", name="limit")
            )
        p.add_tools(
            HoverTool(
                renderers=[r for r in p.renderers if r.name == "finalists"],
                tooltips=[
                    ("candidate", "@candidate"),
                    (metric, "@score{0.0000}"),
                    ("latency ms", "@latency_ms{0.000}"),
                    ("size MB", "@size_mb{0.000}"),
                    ("runtime", "@runtime"),
                    ("fits", "@fits"),
                    ("on the front", "@front"),
                ],
            )
        )
        figures.append(p)
    return figures


# --------------------------------------------------------------------------- live worker activity
def worker_activity_source(workers: list[str] | None = None) -> ColumnDataSource:
    workers = list(workers or [])
    n = len(workers)
    return ColumnDataSource(
        {
            "worker": workers,
            "cpu": [0.0] * n,
            "memory_gb": [0.0] * n,
            "limit_gb": [0.0] * n,
            "done": [0] * n,
            "running": [""] * n,
            "cpu_label": [""] * n,
        },
        name="workers",
    )


def worker_activity_figure(source: ColumnDataSource, dashboard_link: str | None = None):
    """CPU % and memory per worker (bars) with the task each worker runs (label); one data source.

    One source for both panels: one update of ``source.data`` is one document
    patch, whatever the number of workers.
    """
    workers = list(source.data["worker"])
    tips = [
        ("worker", "@worker"),
        ("running", "@running"),
        ("tasks done", "@done"),
        ("CPU", "@cpu{0} %"),
        ("memory", "@memory_gb{0.00} GiB of @limit_gb{0.0}"),
    ]
    cpu = figure(
        x_range=workers,
        height=260,
        width=WIDTH,
        title="CPU per worker (%)",
        tools="hover",
        tooltips=tips,
        toolbar_location=None,
        name="worker_cpu",
        y_range=Range1d(0, 110),
    )
    cpu.vbar(x="worker", top="cpu", width=0.6, source=source, color="#1f77b4", name="cpu")
    cpu.text(
        x="worker",
        y=5,
        text="running",
        source=source,
        text_align="center",
        text_font_size="9pt",
        angle=math.pi / 2 if len(workers) > 6 else 0,
        name="running",
    )
    mem = figure(
        x_range=cpu.x_range,
        height=260,
        width=WIDTH,
        title="Memory per worker (GiB)",
        tools="hover",
        tooltips=tips,
        toolbar_location=None,
        name="worker_memory",
    )
    mem.vbar(
        x="worker",
        top="limit_gb",
        width=0.6,
        source=source,
        fill_alpha=0.1,
        line_color="#9e9e9e",
        fill_color="#9e9e9e",
        name="limit",
    )
    mem.vbar(x="worker", top="memory_gb", width=0.6, source=source, color="#ff7f0e", name="memory")
    mem.y_range.start = 0
    for p in (cpu, mem):
        p.xaxis.major_label_orientation = 0.6 if len(workers) > 4 else 0
    parts = [row(cpu, mem)]
    if dashboard_link:
        parts.insert(0, Div(text=f'<a href="{dashboard_link}" target="_blank">Dask dashboard</a>'))
    return column(*parts, name="worker_activity")


def tabs(panels: list[tuple[str, object]]) -> Tabs:
    return Tabs(tabs=[TabPanel(child=child, title=title) for title, child in panels])
