"""The static form of a finished run: HTML and SVG images, no JavaScript, no kernel.

A notebook output must still show the leaderboard and the plots after a page reload, a kernel
restart, on nbviewer, in an nbconvert HTML or PDF export: there the widget model (and BokehJS)
is gone. So next to the interactive evaluation view the notebook gets this part: the summary,
the leaderboard table, ROC and precision-recall curves (classification with scores), the best
candidate's confusion matrix, or predicted vs actual (regression). The curves are computed by
the results (scikit-learn's own functions), drawn here as SVG polylines.

Each chart goes into the page as an ``<img>`` whose source is the SVG as a ``data:`` URI, not as
inline ``<svg>``: JupyterLab sanitizes the HTML of an untrusted output (a reloaded notebook that
was not signed, one opened from someone else) and its sanitizer drops ``<svg>`` elements (and it
refuses ``image/svg+xml`` outputs outright), while an image keeps its ``data:`` source. An SVG
loaded as an image runs no script, so the picture is safe wherever the HTML is shown.

While the interactive view renders, a style rule it carries hides this part
(:data:`HIDE_WHEN_LIVE_CSS`), so the page does not show the leaderboard twice.
"""

from __future__ import annotations

import base64
import html

import numpy as np

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
WIDTH, HEIGHT, PAD = 340, 300, 44
MAX_POINTS = 200
MAX_CURVES = 8

#: in the interactive view's HTML: hides the static part of the same cell once the widget's Bokeh leaderboard
#: has rendered (not when BokehJS is missing, as after a page reload: then the static part stays)
HIDE_WHEN_LIVE_CSS = (
    "<style>.jp-OutputArea-child:has(.stratum-static):has(~ .jp-OutputArea-child .stratum-evaluation .bk-DataTable)"
    "{display:none}</style>"
)


def _thin(xs, ys) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) > MAX_POINTS:
        keep = np.unique(np.linspace(0, len(xs) - 1, MAX_POINTS).astype(int))
        xs, ys = xs[keep], ys[keep]
    return xs, ys


def line_chart_svg(
    series: list[tuple[str, object, object]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: str | None = None,
    scatter: bool = False,
    bounds: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0),
    css_class: str = "stratum-static-plot",
) -> str:
    """An SVG chart of ``series`` (label, xs, ys); the first series is drawn thickest (the best).
    ``diagonal``: "up" draws y = x (chance on ROC, perfect on predicted vs actual)."""
    x0, x1, y0, y1 = bounds
    plot_w, plot_h = WIDTH - PAD - 10, HEIGHT - PAD - 28

    def px(x: float) -> float:
        return PAD + (x - x0) / ((x1 - x0) or 1) * plot_w

    def py(y: float) -> float:
        return 28 + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h

    parts = [
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{PAD}" y="28" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
    ]
    for frac in (0, 0.5, 1):
        xv, yv = x0 + frac * (x1 - x0), y0 + frac * (y1 - y0)
        parts.append(
            f'<text x="{px(xv):.1f}" y="{28 + plot_h + 13}" text-anchor="middle">{_tick(xv)}</text>'
            f'<text x="{PAD - 4}" y="{py(yv) + 4:.1f}" text-anchor="end">{_tick(yv)}</text>'
        )
    parts.append(f'<text x="{PAD + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle">{html.escape(x_label)}</text>')
    parts.append(
        f'<text x="12" y="{28 + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {28 + plot_h / 2})">{html.escape(y_label)}</text>'
    )
    if diagonal == "up":
        lo, hi = max(x0, y0), min(x1, y1)
        parts.append(
            f'<line x1="{px(lo):.1f}" y1="{py(lo):.1f}" x2="{px(hi):.1f}" y2="{py(hi):.1f}" '
            'stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    legend = []
    for i, (label, xs, ys) in reversed(list(enumerate(series[:MAX_CURVES]))):
        color = COLORS[i % len(COLORS)]
        xs, ys = _thin(xs, ys)
        if scatter:
            dots = "".join(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2"/>' for x, y in zip(xs, ys))
            parts.append(f'<g fill="{color}" fill-opacity="0.6">{dots}</g>')
        else:
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
            width = 2.5 if i == 0 else 1.2
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{points}"/>')
        legend.append((i, label, color))
    for row, (_, label, color) in enumerate(sorted(legend)):
        y = 28 + plot_h - 6 - 13 * (len(legend) - 1 - row)
        parts.append(  # right-aligned, swatch after the label; the full label as a tooltip
            f'<rect x="{PAD + plot_w - 14}" y="{y - 8}" width="8" height="8" fill="{color}"/>'
            f'<text x="{PAD + plot_w - 18}" y="{y}" text-anchor="end"><title>{html.escape(label)}</title>'
            f"{html.escape(_shorten(label, 44))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_image(svg: str, *, css_class: str, alt: str, tooltip: str = "") -> str:
    """``svg`` as an ``<img>`` with a ``data:`` source: survives JupyterLab's sanitizer (see the module text)."""
    data = base64.b64encode(svg.encode()).decode("ascii")
    return (
        f'<img class="{css_class}" alt="{html.escape(alt)}" title="{html.escape(tooltip or alt)}" '
        f'width="{WIDTH}" height="{HEIGHT}" src="data:image/svg+xml;base64,{data}"/>'
    )


def svg_of_image(img: str) -> str:
    """The SVG inside an ``<img>`` made by :func:`svg_image` (for tests and tools that read the static part)."""
    start = img.index("base64,") + len("base64,")
    return base64.b64decode(img[start : img.index('"', start)]).decode()


def _chart(series, *, title: str, css_class: str, **kw) -> str:
    svg = line_chart_svg(series, title=title, css_class=css_class, **kw)
    return svg_image(svg, css_class=css_class, alt=title, tooltip="\n".join([title] + [s[0] for s in series]))


def _tick(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _curves(result, kind: str, pos_label) -> list[tuple[str, object, object]]:
    from .plots import scored

    ordered = sorted(scored(result.candidates), key=lambda c: c is not result.best)  # the best first
    out = []
    for c in ordered[:MAX_CURVES]:
        if kind == "roc":
            pts = c.roc_curve(pos_label)
            if pts is not None:
                out.append((f"{c.id} (AUC {pts['auc']:.3f})", pts["fpr"], pts["tpr"]))
        else:
            pts = c.pr_curve(pos_label)
            if pts is not None:
                out.append((f"{c.id} (AP {pts['average_precision']:.3f})", pts["recall"], pts["precision"]))
    return out


def confusion_html(candidate, classes) -> str:
    matrix = candidate.confusion_matrix()
    labels = [str(c) for c in (classes if classes is not None else range(len(matrix)))]
    peak = max(int(matrix.max()), 1)
    head = "".join(f"<th>{html.escape(x)}</th>" for x in labels)
    rows = []
    for label, counts in zip(labels, matrix):
        cells = "".join(
            f'<td style="text-align:right;background:rgba(31,119,180,{0.08 + 0.6 * v / peak:.2f})">{int(v)}</td>'
            for v in counts
        )
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return (
        f'<table class="stratum-static-confusion"><caption>Confusion matrix of {html.escape(candidate.id)} '
        f"(out-of-fold; rows: actual, columns: predicted)</caption><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


def deployment_html(result) -> str:
    """The deployment choice as HTML: which finalist was chosen and why, and the measured finalists
    (score, latency, size, whether each fits and is on the Pareto front), the chosen one highlighted."""
    from ..display import html_table
    from ..evaluate.constraints import footprint_rows

    constraints = result.plan.spec.constraints
    limits = constraints.model_dump(exclude_none=True) if constraints is not None else {}
    front, chosen = result.pareto_front(), result.chosen
    note = (
        f"<p>Chosen: <b>{html.escape(chosen.candidate_id)}</b>, the best that fits "
        + ", ".join(f"{k} ≤ {v:g}" for k, v in limits.items())
        + f". Pareto front (score, latency, size): {len(front)} of {len(result.footprints)} finalists.</p>"
        if chosen is not None
        else "<p>No finalist fits the constraints; the best score was kept.</p>"
    )
    rows = footprint_rows(result.footprints, chosen)
    on_front = {id(f) for f in front}
    for r, f in zip(rows, result.footprints):
        r["Pareto front"] = "yes" if id(f) in on_front else ""
    return note + html_table(rows, highlight=result.footprints.index(chosen) if chosen is not None else None)


def _pareto_charts(result) -> list[str]:
    """Score against latency and against size as SVG images: the Pareto front joined by a line, the
    other finalists that fit, those that miss (the interactive view's Deployment plots, drawn statically)."""
    front_ids = {id(f) for f in result.pareto_front()}
    footprints = result.footprints
    charts = []
    for x, label in (("latency_ms", "single-row latency (ms)"), ("size_mb", "serialized size (MB)")):
        front = sorted((f for f in footprints if id(f) in front_ids), key=lambda f: getattr(f, x))
        groups = [
            ("Pareto front", front),
            ("fits", [f for f in footprints if f.fits and id(f) not in front_ids]),
            ("misses", [f for f in footprints if not f.fits and id(f) not in front_ids]),
        ]
        series = [(name, [getattr(f, x) for f in group], [f.score for f in group]) for name, group in groups if group]
        xs = [getattr(f, x) for f in footprints]
        ys = [f.score for f in footprints]
        x_pad = (max(xs) - min(xs)) * 0.1 or max(xs) * 0.1 or 1.0
        y_pad = (max(ys) - min(ys)) * 0.1 or 0.01
        bounds = (max(0.0, min(xs) - x_pad), max(xs) + x_pad, min(ys) - y_pad, max(ys) + y_pad)
        title = f"{result.metric} vs {label.split(' (')[0]}"
        svg = line_chart_svg(
            series, title=title, x_label=label, y_label=result.metric, scatter=True, bounds=bounds, css_class=""
        )
        if len(front) > 1:  # the front joined by a line, under its points
            line = line_chart_svg(
                [("Pareto front", [getattr(f, x) for f in front], [f.score for f in front])],
                title=title,
                x_label=label,
                y_label=result.metric,
                bounds=bounds,
                css_class="",
            )
            polyline = line[line.index("<polyline") : line.index("/>", line.index("<polyline")) + 2]
            svg = svg.replace("</svg>", polyline + "</svg>")
        charts.append(
            svg_image(
                svg,
                css_class=f"stratum-static-plot stratum-static-pareto-{x.split('_')[0]}",
                alt=title,
                tooltip="\n".join(
                    [title] + [f"{f.candidate_id}: {f.score:.4f}, {getattr(f, x):.3g}" for f in footprints]
                ),
            )
        )
    return charts


def static_html(result) -> str:
    """The whole static part: summary, leaderboard, plots. No script; renders anywhere."""
    from .plots import has_scores, scored

    figures = []
    if result.task == "classification":
        classes = list(result.classes or [])
        pos = classes[0] if len(classes) > 2 else None
        which = f" (class {pos} vs rest)" if pos is not None else ""
        if has_scores(scored(result.candidates)):
            roc = _curves(result, "roc", pos)
            if roc:
                figures.append(
                    _chart(
                        roc,
                        title="ROC" + which,
                        x_label="false positive rate",
                        y_label="true positive rate",
                        diagonal="up",
                        css_class="stratum-static-plot stratum-static-roc",
                    )
                )
            pr = _curves(result, "pr", pos)
            if pr:
                figures.append(
                    _chart(
                        pr,
                        title="Precision-recall" + which,
                        x_label="recall",
                        y_label="precision",
                        css_class="stratum-static-plot stratum-static-pr",
                    )
                )
        if result.best is not None and result.best.folds:
            figures.append(confusion_html(result.best, result.classes))
    elif result.best is not None and result.best.folds:
        res = result.best.residuals()
        lo = float(min(res["y_true"].min(), res["y_pred"].min()))
        hi = float(max(res["y_true"].max(), res["y_pred"].max()))
        margin = (hi - lo) * 0.05 or 1.0
        figures.append(
            _chart(
                [(result.best.id, res["y_true"], res["y_pred"])],
                title=f"Predicted vs actual: {result.best.id}",
                x_label="actual",
                y_label="predicted (out-of-fold)",
                diagonal="up",
                scatter=True,
                bounds=(lo - margin, hi + margin, lo - margin, hi + margin),
                css_class="stratum-static-plot stratum-static-regression",
            )
        )
    plots = "".join(f'<div style="flex:0 0 auto">{f}</div>' for f in figures)
    deployment = ""
    if getattr(result, "footprints", None):  # constraints: the Pareto front and the choice
        charts = "".join(f'<div style="flex:0 0 auto">{c}</div>' for c in _pareto_charts(result))
        deployment = (
            '<div class="stratum-static-deployment"><h4>Deployment</h4>'
            + deployment_html(result)
            + f'<div style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">{charts}</div></div>'
        )
    return (
        '<div class="stratum-static" style="max-width:100%;overflow-x:auto">'
        + result._repr_html_()
        + f'<div style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">{plots}</div>'
        + deployment
        + '<p style="opacity:0.7"><i>Static copy of the evaluation view (shown where the interactive one can\'t '
        "render: after a kernel restart, on nbviewer, in exports).</i></p></div>"
    )


def static_bundle(result) -> dict:
    """A display bundle of the static part (text/html, and the text leaderboard)."""
    return {"text/html": static_html(result), "text/plain": result.to_text()}
