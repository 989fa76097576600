"""The evaluation view of a finished run: ipywidgets tabs around Bokeh figures.

Tabs: Leaderboard, ROC / PR (classification; class selector when multiclass),
Confusion matrix (candidate selector, counts or normalised), Regression
(predicted vs actual, residuals), CV spread (metric selector), Cost, and with ``constraints``
Deployment (score against latency and size, the Pareto front, the best that fits starred).
The figures come from :mod:`.plots`; this module only wires selectors to them.

Displaying an :class:`EvaluationView` gives the widget *and* an HTML and a
text leaderboard in the same bundle, so a frontend without the widget manager
(nbconvert to HTML without saved widget state, a terminal, a plain HTML
renderer) shows a readable table instead of "Error displaying widget".
"""

from __future__ import annotations

import html

from . import plots
from .static import HIDE_WHEN_LIVE_CSS, deployment_html, static_bundle, static_html

HOLDOUT = "holdout (refit best)"


def _bokeh(model):
    from jupyter_bokeh import BokehModel

    return BokehModel(model)


class EvaluationView:
    """The widget for a :class:`~jupyter_stratum.results.TrainingResult`.

    ``figures`` maps a section to the Bokeh model it shows now ("roc", "pr",
    "confusion", "predicted_vs_actual", "residuals", "cv_spread", "cost",
    "leaderboard"); selectors replace those entries.
    """

    def __init__(self, result):
        import ipywidgets as w

        self.result = result
        self.figures: dict = {}
        self.selectors: dict = {}
        cands = plots.scored(result.candidates)
        self._cands = cands
        best_id = result.best.id if result.best is not None else None
        self._best_id = best_id
        sections: list[tuple[str, object]] = []

        # Leaderboard
        table = plots.leaderboard_table(result)
        self.figures["leaderboard"] = table
        summary = w.HTML(
            f'<div class="stratum-summary">{html.escape(result.summary())}'
            + self._dashboard_html()
            + "</div>"
            + HIDE_WHEN_LIVE_CSS  # while this renders, the static copy above it is hidden
        )
        more = w.Checkbox(value=False, description="all columns", indent=False, layout=w.Layout(width="auto"))
        more.observe(lambda ch: plots.show_all_columns(table, ch["new"]), names="value")
        self.selectors["columns"] = more
        sections.append(("Leaderboard", w.VBox([summary, more, _bokeh(table)])))

        if result.task == "classification":
            classes = list(result.classes or [])
            if plots.has_scores(cands):
                self._curves_box = w.VBox()
                if len(classes) > 2:
                    sel = w.Dropdown(
                        options=[(str(c), c) for c in classes],
                        value=classes[0],
                        description="positive class",
                        style={"description_width": "initial"},
                    )
                    sel.observe(lambda ch: self._show_curves(ch["new"]), names="value")
                    self.selectors["class"] = sel
                self._show_curves(classes[0] if len(classes) > 2 else None)
                sections.append(("ROC / PR", self._curves_box))
            # confusion matrix
            options = [c.id for c in cands] + ([HOLDOUT] if result.holdout.get("y_pred") is not None else [])
            cand_sel = w.Dropdown(
                options=options, value=best_id if best_id in options else options[0], description="candidate"
            )
            norm_sel = w.ToggleButtons(
                options=[("counts", None), ("normalised by actual", "true"), ("normalised by predicted", "pred")],
                value=None,
                tooltips=["counts", "each row (actual class) sums to 1", "each column (predicted class) sums to 1"],
                style={"button_width": "auto"},  # the labels whole, not "normalised by ac…"
            )
            self.selectors["confusion_candidate"] = cand_sel
            self.selectors["confusion_normalize"] = norm_sel
            self._confusion_box = w.VBox([w.HBox([cand_sel, norm_sel], layout=w.Layout(flex_flow="row wrap"))])
            cand_sel.observe(lambda ch: self._show_confusion(), names="value")
            norm_sel.observe(lambda ch: self._show_confusion(), names="value")
            self._show_confusion()
            sections.append(("Confusion matrix", self._confusion_box))
        else:
            options = [c.id for c in cands] + ([HOLDOUT] if result.holdout.get("y_pred") is not None else [])
            sel = w.Dropdown(
                options=options, value=best_id if best_id in options else options[0], description="candidate"
            )
            self.selectors["regression_candidate"] = sel
            self._regression_box = w.VBox([sel])
            sel.observe(lambda ch: self._show_regression(), names="value")
            self._show_regression()
            sections.append(("Regression", self._regression_box))

        # CV spread
        metrics = [m for m in result.leaderboard.metrics if any(c.fold_scores(m) for c in cands)]
        metric_sel = w.Dropdown(
            options=metrics, value=result.metric if result.metric in metrics else metrics[0], description="metric"
        )
        self.selectors["cv_metric"] = metric_sel
        self._cv_box = w.VBox([metric_sel])
        metric_sel.observe(lambda ch: self._show_cv(), names="value")
        self._show_cv()
        sections.append(("CV spread", self._cv_box))

        # Cost
        self.figures["cost"] = plots.cost_figure(result.candidates)
        sections.append(("Cost", _bokeh(self.figures["cost"])))

        # Deployment: with constraints, the Pareto front of score, latency and size, the chosen one marked
        if getattr(result, "footprints", None):
            sections.append(("Deployment", self._deployment()))

        self.titles = [t for t, _ in sections]
        self.widget = w.Tab(children=[c for _, c in sections], titles=self.titles)
        self.widget.add_class("stratum-evaluation")

    # ---- sections ---------------------------------------------------------
    def _dashboard_html(self) -> str:
        link = (self.result.cluster or {}).get("dashboard_link")
        return f' <a href="{html.escape(link)}" target="_blank">Dask dashboard</a>' if link else ""

    def _deployment(self):
        import ipywidgets as w
        from bokeh.layouts import row

        result = self.result
        constraints = result.plan.spec.constraints
        limits = constraints.model_dump(exclude_none=True) if constraints is not None else {}
        self.figures["pareto_latency"], self.figures["pareto_size"] = plots.pareto_figures(
            result.footprints, result.pareto_front(), result.chosen, result.metric, limits
        )
        figures = row(self.figures["pareto_latency"], self.figures["pareto_size"])
        return w.VBox([w.HTML(deployment_html(result)), _bokeh(figures)])

    def _set(self, box, fixed: int, *models) -> None:
        """Keep the first ``fixed`` children (selectors) of ``box``, show ``models`` after them."""
        from bokeh.layouts import row

        model = models[0] if len(models) == 1 else row(*models)
        box.children = tuple(box.children[:fixed]) + (_bokeh(model),)

    def _show_curves(self, pos_label) -> None:
        self.figures["roc"] = plots.roc_figure(self._cands, pos_label, self._best_id)
        self.figures["pr"] = plots.pr_figure(self._cands, pos_label, self._best_id)
        fixed = 1 if "class" in self.selectors else 0
        if fixed and not self._curves_box.children:
            self._curves_box.children = (self.selectors["class"],)
        self._set(self._curves_box, fixed, self.figures["roc"], self.figures["pr"])

    def _show_confusion(self) -> None:
        cid = self.selectors["confusion_candidate"].value
        normalize = self.selectors["confusion_normalize"].value
        if cid == HOLDOUT:
            hold = self.result.holdout
            fig = plots.confusion_figure(
                self.result.best,
                normalize,
                classes=self.result.classes,
                y_true=hold["y_true"],
                y_pred=hold["y_pred"],
                title=f"Confusion matrix: {self.result.best.id} on the holdout"
                + (f" (normalised: {normalize})" if normalize else ""),
            )
        else:
            fig = plots.confusion_figure(self.result.candidate(cid), normalize)
        self.figures["confusion"] = fig
        self._set(self._confusion_box, 1, fig)

    def _show_regression(self) -> None:
        cid = self.selectors["regression_candidate"].value
        if cid == HOLDOUT:
            hold = self.result.holdout
            figs = plots.regression_figures(
                self.result.best,
                title=f"{self.result.best.id} on the holdout",
                y_true=hold["y_true"],
                y_pred=hold["y_pred"],
            )
        else:
            figs = plots.regression_figures(self.result.candidate(cid))
        self.figures["predicted_vs_actual"], self.figures["residuals"] = figs
        self._set(self._regression_box, 1, *figs)

    def _show_cv(self) -> None:
        self.figures["cv_spread"] = plots.cv_spread_figure(
            self._cands, self.selectors["cv_metric"].value, self._best_id
        )
        self._set(self._cv_box, 1, self.figures["cv_spread"])

    # ---- display ----------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        if widgets_available():
            from IPython.display import publish_display_data

            from ._bokehjs import ensure_loaded

            ensure_loaded()  # jupyter_bokeh draws with the page's BokehJS
            # its own output, before the widget's: it stays readable when the widget model is gone
            # (kernel restart, nbviewer, exports); hidden while the widget renders
            publish_display_data(static_bundle(self.result))
            # the widget's own fallback (shown by JupyterLab once the model is gone) only says so: the
            # static copy above already shows the results, twice would read as two runs
            bundle = {"text/html": LIVE_GONE_HTML}
        else:
            bundle = fallback_bundle(self.result)
        bundle.update(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = self.result.to_text()
        return bundle


LIVE_GONE_HTML = (
    '<p class="stratum-live-gone"><i>The interactive view of this run needs the kernel that made it '
    "(run the cell again); the static copy above shows the results.</i></p>"
)


def fallback_bundle(result) -> dict:
    """What shows where widgets can't: the leaderboard and the plots as static HTML/SVG, and text."""
    note = (
        "<p><i>Interactive plots need the Jupyter widget manager; "
        '<code>result.report("report.html")</code> writes them to a standalone file.</i></p>'
    )
    return {"text/html": static_html(result) + note, "text/plain": result.to_text()}


def widgets_available() -> bool:
    """True inside a running IPython kernel (a frontend may render widgets)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
