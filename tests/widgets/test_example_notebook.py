"""examples/evaluation.ipynb executed headless (nbclient, a real kernel, the session's real Dask cluster).

The saved notebook must hold the views as a frontend gets them: widget views in
the outputs and, in the notebook's widget state, the jupyter_bokeh models with
their Bokeh document bundles. Without that state (nbconvert of a notebook saved
without widgets) the HTML export must still show the leaderboard.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def executed(tmp_path_factory, dask_cluster, run_notebook):
    tmp = tmp_path_factory.mktemp("evaluation-nb")
    nb = run_notebook(
        "evaluation.ipynb",
        cwd=tmp,
        store_widget_state=True,
        env={"STRATUM_SCHEDULER": dask_cluster.address, "STRATUM_HOME": str(tmp / "home")},
    )
    return nb, tmp


def _cell(nb, first_line: str):
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.splitlines()[0] == first_line)


def _models_under(state: dict, model_id: str) -> set[str]:
    """Ids of the widget models reachable from ``model_id`` (children, tabs...)."""
    seen, todo = set(), [model_id]
    while todo:
        mid = todo.pop()
        if mid in seen or mid not in state:
            continue
        seen.add(mid)
        todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[mid]["state"]))
    return seen


def test_notebook_runs_without_errors(executed):
    nb, _ = executed
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", "".join(out.get("traceback", []))


def test_saved_outputs_hold_widget_and_bokeh_bundles(executed):
    nb, _ = executed
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    trained = _cell(nb, "%%stratum train cancer --no-register")
    views = [o["data"][WIDGET_VIEW]["model_id"] for o in trained.outputs if WIDGET_VIEW in o.get("data", {})]
    # the evaluation view; the live view, once the run is over, left its static copy in its place (readable after
    # a reload, a restart, in an export): the final count, the leaderboard rows
    assert len(views) == 1
    (evaluation,) = views
    live_output = next(
        o for o in trained.outputs if "stratum-training-static" in o.get("data", {}).get("text/html", "")
    )
    assert WIDGET_VIEW not in live_output["data"]
    assert live_output["data"]["text/plain"].startswith("20/20 tasks")
    for cid in ("logistic_regression(C=0.1)", "random_forest", "decision_tree"):
        assert cid in live_output["data"]["text/html"]
    # BokehJS is loaded into the page once (inline: the page may have no internet)
    loads = [
        o for c in nb.cells for o in c.get("outputs", []) if "application/vnd.bokehjs_load.v0+json" in o.get("data", {})
    ]
    assert len(loads) == 1
    # the evaluation view's output, and before it the static copy (leaderboard, curves as SVG images): the
    # widget's own HTML fallback only points at it, so a restarted kernel doesn't show the leaderboard twice
    final = trained.outputs[-1]["data"]
    assert WIDGET_VIEW in final and "Leaderboard" in final["text/plain"]
    assert "stratum-leaderboard" not in final["text/html"] and "static copy above" in final["text/html"]
    static = trained.outputs[-2]["data"]
    assert 'class="stratum-leaderboard"' in static["text/html"] and "stratum-static-roc" in static["text/html"]

    # the evaluation view: a Tab with the sections, each holding a jupyter_bokeh model with a Bokeh document
    tab = state[evaluation]["state"]
    assert tab["_model_name"] == "TabModel"
    assert tab["titles"] == ["Leaderboard", "ROC / PR", "Confusion matrix", "CV spread", "Cost", "Deployment"]
    bokeh = [mid for mid in _models_under(state, evaluation) if state[mid]["state"]["_model_name"] == "BokehModel"]
    assert len(bokeh) == 6
    docs = " ".join(json.dumps(state[mid]["state"]["render_bundle"]) for mid in bokeh)
    for cid in ("logistic_regression(C=0.1)", "logistic_regression(C=1)", "random_forest", "decision_tree"):
        assert f"roc:{cid}" in docs  # one ROC curve per candidate in the saved Bokeh document
    assert "AUC" in docs and "confusion_matrix" in docs and "cv_spread" in docs and "cost" in docs

    # regression run: its own sections
    reg = _cell(nb, "%%stratum train diabetes --no-register")
    reg_view = [o["data"][WIDGET_VIEW]["model_id"] for o in reg.outputs if WIDGET_VIEW in o.get("data", {})][-1]
    assert state[reg_view]["state"]["titles"] == ["Leaderboard", "Regression", "CV spread", "Cost"]


def test_report_written_by_the_notebook(executed):
    nb, tmp = executed
    report = tmp / "report.html"
    assert report.exists() and report.stat().st_size > 500_000
    assert "roc:random_forest" in report.read_text()


def test_html_export_without_widget_state_falls_back_to_the_leaderboard(executed):
    """nbconvert of a notebook saved without widget state: no 'Error displaying widget', the table instead."""
    from nbconvert import HTMLExporter

    nb, _ = executed
    stripped = nbformat.from_dict(json.loads(json.dumps(nb)))
    stripped.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(stripped)
    assert body.count('class="stratum-leaderboard"') >= 2  # both runs
    assert WIDGET_VIEW not in body
    # the constrained run's Deployment tab too: the choice, the finalists' table, the Pareto front drawn
    from jupyter_stratum.widgets.static import svg_of_image

    deployment = body[body.index('class="stratum-static-deployment"') :]
    assert "Chosen: <b>" in deployment and "Pareto front" in deployment and "size MB" in deployment
    for which in ("latency", "size"):
        start = deployment.index(f'stratum-static-pareto-{which}"')  # the export orders the attributes: src after
        svg = svg_of_image(deployment[start:])
        assert "Pareto front" in svg and "<circle" in svg
    # with the state, the export embeds the widgets (the html manager renders them)
    body_with, _ = HTMLExporter().from_notebook_node(nb)
    assert WIDGET_VIEW in body_with and WIDGET_STATE in body_with
