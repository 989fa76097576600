"""A standalone HTML report of a run: the evaluation view's figures in one file.

BokehJS is inlined (``bokeh.resources.INLINE``), so the file opens offline and
can be mailed or attached to a CI run. Selectors of the notebook view become
Bokeh tabs (one panel per class, candidate or metric).
"""

from __future__ import annotations

import html
from pathlib import Path

from ..errors import StratumError
from . import plots


class ReportError(StratumError):
    """The report file cannot be written."""

    area = "report"


def report_layout(result):
    """The Bokeh layout of the report (also used by tests)."""
    from bokeh.layouts import column, row
    from bokeh.models import Div

    cands = plots.scored(result.candidates)
    best_id = result.best.id if result.best is not None else None
    title = html.escape(result.name or "training run")
    parts = [
        Div(
            text=f"<h1>jupyter-stratum: {title}</h1><p>{html.escape(result.summary())}</p>",
            width=2 * plots.WIDTH + 40,
            name="summary",
        )
    ]
    notices = [e.message for e in result.events if type(e).__name__ == "Notice"]
    if notices:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notices)
        parts.append(Div(text=f"<ul>{items}</ul>", width=2 * plots.WIDTH + 40, name="notices"))
    parts += [
        Div(text="<h2>Leaderboard</h2><p>Click a header to sort; ★ the selected model.</p>"),
        plots.leaderboard_table(result, compact=False),
    ]

    if result.task == "classification":
        classes = list(result.classes or [])
        if plots.has_scores(cands):
            parts.append(Div(text="<h2>ROC and precision-recall (out-of-fold)</h2>"))
            if len(classes) > 2:
                parts.append(
                    plots.tabs(
                        [
                            (f"class {c}", row(plots.roc_figure(cands, c, best_id), plots.pr_figure(cands, c, best_id)))
                            for c in classes
                        ]
                    )
                )
            else:
                parts.append(row(plots.roc_figure(cands, None, best_id), plots.pr_figure(cands, None, best_id)))
        parts.append(Div(text="<h2>Confusion matrices (out-of-fold; holdout for the refit best)</h2>"))
        panels = []
        for c in cands:
            panels.append((c.id, row(plots.confusion_figure(c), plots.confusion_figure(c, "true"))))
        if result.holdout.get("y_pred") is not None and result.best is not None:
            hold = result.holdout
            panels.append(
                (
                    "holdout (refit best)",
                    row(
                        *[
                            plots.confusion_figure(
                                result.best,
                                norm,
                                classes=result.classes,
                                y_true=hold["y_true"],
                                y_pred=hold["y_pred"],
                                title=f"{result.best.id} on the holdout" + (" (normalised)" if norm else ""),
                            )
                            for norm in (None, "true")
                        ]
                    ),
                )
            )
        parts.append(plots.tabs(panels))
    else:
        parts.append(Div(text="<h2>Regression: predicted vs actual, residuals (out-of-fold)</h2>"))
        panels = [(c.id, row(*plots.regression_figures(c))) for c in cands]
        if result.holdout.get("y_pred") is not None and result.best is not None:
            hold = result.holdout
            panels.append(
                (
                    "holdout (refit best)",
                    row(
                        *plots.regression_figures(
                            result.best,
                            title=f"{result.best.id} on the holdout",
                            y_true=hold["y_true"],
                            y_pred=hold["y_pred"],
                        )
                    ),
                )
            )
        parts.append(plots.tabs(panels))

    metrics = [m for m in result.leaderboard.metrics if any(c.fold_scores(m) for c in cands)]
    metrics.sort(key=lambda m: m != result.metric)  # the selection metric first
    parts.append(Div(text="<h2>CV spread</h2>"))
    parts.append(plots.tabs([(m, plots.cv_spread_figure(cands, m, best_id)) for m in metrics]))
    parts.append(Div(text="<h2>Cost</h2>"))
    parts.append(plots.cost_figure(result.candidates))
    return column(*parts, name="stratum_report")


def write_report(result, path) -> Path:
    """Write the report of ``result`` to ``path`` (one self-contained HTML file); returns the path."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = Path(path)
    text = file_html(report_layout(result), INLINE, title=f"jupyter-stratum report: {result.name or 'run'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(
            f"Cannot write the report to {path}: {exc.strerror}. Choose a writable path (e.g. --report ./report.html)."
        ) from None
    return path
