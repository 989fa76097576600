"""The evaluation view, the live training view, the fallbacks and the standalone report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score

from jupyter_stratum.events import PlanReady, RunFinished, TaskFinished, TaskStarted
from jupyter_stratum.widgets import plots

pytestmark = pytest.mark.cluster

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


# ------------------------------------------------------------------ evaluation view
def test_evaluation_view_sections_and_selectors(binary_result):
    from jupyter_bokeh import BokehModel

    from jupyter_stratum.widgets.evaluation_view import HOLDOUT, EvaluationView

    view = EvaluationView(binary_result)
    assert view.titles == ["Leaderboard", "ROC / PR", "Confusion matrix", "CV spread", "Cost"]
    assert list(view.widget.titles) == view.titles
    # every section shows a Bokeh model through jupyter_bokeh
    for child in view.widget.children:
        boxes = [child] + list(getattr(child, "children", ()))
        assert any(isinstance(b, BokehModel) for b in boxes)

    # the leaderboard: compact, "all columns" shows the rest
    table = view.figures["leaderboard"]
    hidden = [c for c in table.columns if not c.visible]
    assert hidden
    view.selectors["columns"].value = True
    assert all(c.visible for c in table.columns)
    view.selectors["columns"].value = False
    assert [c for c in table.columns if not c.visible] == hidden
    # the normalisation buttons show their whole labels, with a tooltip each
    norm = view.selectors["confusion_normalize"]
    assert norm.style.button_width == "auto" and len(norm.tooltips) == 3

    # confusion: the selected model first; switching candidate / normalisation redraws sklearn's matrix
    assert view.selectors["confusion_candidate"].value == binary_result.best.id
    other = binary_result.leaderboard.candidates[-1]
    view.selectors["confusion_candidate"].value = other.id
    view.selectors["confusion_normalize"].value = "true"
    np.testing.assert_allclose(
        plots.confusion_matrix_of(view.figures["confusion"]),
        confusion_matrix(other.y_true, other.y_pred, normalize="true"),
        atol=1e-12,
    )
    view.selectors["confusion_candidate"].value = HOLDOUT
    view.selectors["confusion_normalize"].value = None
    hold = binary_result.holdout
    np.testing.assert_array_equal(
        plots.confusion_matrix_of(view.figures["confusion"]), confusion_matrix(hold["y_true"], hold["y_pred"])
    )
    # the shown BokehModel is the new figure's
    shown = view._confusion_box.children[-1]
    assert isinstance(shown, BokehModel) and shown._model is view.figures["confusion"]

    # CV spread follows the metric selector
    view.selectors["cv_metric"].value = "accuracy"
    pts = next(r for r in view.figures["cv_spread"].renderers if r.name == "cv_points").data_source.data
    assert sorted(pts["score"]) == sorted(s for c in binary_result.candidates for s in c.fold_scores("accuracy"))


def test_multiclass_view_has_a_class_selector(multiclass_result):
    from jupyter_stratum.widgets.evaluation_view import EvaluationView

    view = EvaluationView(multiclass_result)
    sel = view.selectors["class"]
    assert list(sel.options) == [(str(c), c) for c in multiclass_result.classes]
    for index, cls in enumerate(multiclass_result.classes):
        sel.value = cls
        for r in view.figures["roc"].renderers:
            if r.name.startswith("roc:"):
                c = multiclass_result.candidate(r.tags[0]["candidate"])
                assert r.tags[0]["pos_label"] == str(cls)
                assert r.tags[0]["auc"] == pytest.approx(
                    roc_auc_score(np.asarray(c.y_true) == cls, c.y_score[:, index]), abs=1e-12
                )


def test_regression_view_sections(regression_result):
    from jupyter_stratum.widgets.evaluation_view import EvaluationView

    view = EvaluationView(regression_result)
    assert view.titles == ["Leaderboard", "Regression", "CV spread", "Cost"]
    assert view.selectors["regression_candidate"].value == regression_result.best.id
    view.selectors["regression_candidate"].value = "decision_tree"
    pts = next(r for r in view.figures["predicted_vs_actual"].renderers if r.name == "predicted").data_source.data
    np.testing.assert_allclose(pts["y_pred"], regression_result.candidate("decision_tree").y_pred)


def test_result_outside_a_kernel_falls_back_to_html_and_text(binary_result):
    """Terminal IPython / plain Python: no widget in the bundle, a readable leaderboard instead."""
    bundle = binary_result._repr_mimebundle_()
    assert WIDGET_MIME not in bundle
    assert 'class="stratum-leaderboard"' in bundle["text/html"]
    assert bundle["text/plain"] == binary_result.to_text()
    # the plain reprs keep working
    assert "Leaderboard" in binary_result._repr_html_() and binary_result.best.id in binary_result.to_text()


def test_view_bundle_has_widget_and_fallbacks(binary_result):
    """The view's own bundle: a frontend with the widget manager renders the widget; one without, the HTML."""
    from jupyter_stratum.widgets.evaluation_view import EvaluationView

    bundle = EvaluationView(binary_result)._repr_mimebundle_()
    assert WIDGET_MIME in bundle and bundle[WIDGET_MIME]["model_id"]
    assert 'class="stratum-leaderboard"' in bundle["text/html"]
    assert "Leaderboard" in bundle["text/plain"]


# ------------------------------------------------------------------ live training view
def test_training_view_from_a_real_run(client, specs):
    """Replays nothing: the view is the on_event of a real run, with CPU/memory from the real scheduler."""
    from jupyter_stratum.cluster.metrics import WorkerMetricsPoller
    from jupyter_stratum.training import train
    from jupyter_stratum.widgets.training_view import TrainingView

    poller = WorkerMetricsPoller(client, interval=0.2)
    view = TrainingView(metrics=poller, display=False, min_interval=0.2, plot_interval=0.2, heartbeat=0.2)
    result = train(specs["multiclass"], name=None, client=client, on_event=view)
    view.close()
    n = result.plan.n_tasks
    assert view.bar.max == n and view.bar.value == n and view.bar.bar_style == "success"
    assert f"<b>{n}</b>/{n} tasks" in view.status.value and "done" in view.status.value
    rows = {r["candidate"]: r for r in view.leaderboard_rows()}
    for c in result.candidates:
        assert rows[c.id]["mean"] == pytest.approx(c.mean(result.metric), abs=1e-12)
        assert rows[c.id]["folds"] == len(c.folds) and rows[c.id]["status"] == "done"
    assert view.leaderboard_rows()[0]["candidate"] == result.best.id
    # worker panel: the real workers, tasks per worker as the folds say, memory read from the scheduler
    data = view.source.data
    assert list(data["worker"]) == ["cpu-1", "cpu-2"]
    done = dict(zip(data["worker"], data["done"]))
    for w in done:
        assert done[w] == sum(1 for c in result.candidates for f in c.folds if f.worker == w)
    assert all(m > 0 for m in data["memory_gb"]) and all(lim > 0 for lim in data["limit_gb"])
    assert poller.polls >= 1 and poller.error is None
    assert view._thread is not None and not view._thread.is_alive()  # heartbeat stopped at the end


def _synthetic_events(n_tasks: int, n_candidates: int = 100):
    """A fast stream of task events (no cluster: this tests the throttle alone)."""
    from types import SimpleNamespace

    n_folds = n_tasks // n_candidates
    plan = SimpleNamespace(
        metric="accuracy", n_folds=n_folds, candidates=[SimpleNamespace(id=f"c{i}") for i in range(n_candidates)]
    )
    yield PlanReady(plan, n_tasks, None)
    for k in range(n_tasks):
        cid, fold, worker = f"c{k // n_folds}", k % n_folds, f"w{k % 4}"
        yield TaskStarted(f"t{k}", cid, fold, worker)
        yield TaskFinished(f"t{k}", cid, fold, worker, 0.01, {"accuracy": 0.5 + (k % 7) / 20})
    yield RunFinished(1.0, n_tasks, 0)


def test_throttle_bounds_updates_independently_of_task_count():
    from jupyter_stratum.widgets.training_view import TrainingView

    unthrottled = TrainingView(display=False, min_interval=0, plot_interval=0, heartbeat=0)
    for e in _synthetic_events(1000):
        unthrottled(e)
    throttled = TrainingView(display=False, min_interval=0.5, plot_interval=1.0, heartbeat=0)
    started = time.monotonic()
    for e in _synthetic_events(1000):
        throttled(e)
    elapsed = time.monotonic() - started
    # unthrottled: about one update per event; throttled: the plan, the end, and one per interval
    assert unthrottled.updates > 2000
    assert throttled.updates <= 12 + 5 * (elapsed / 0.5 + 1)
    # the throttled view still ends with the exact final state
    assert throttled.bar.value == 1000 and throttled.leaderboard_rows() == unthrottled.leaderboard_rows()
    assert throttled.status.value.startswith("<b>1000</b>/1000 tasks")


# ------------------------------------------------------------------ standalone report
def _embedded_docs(text: str) -> dict:
    blob = re.search(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', text, re.S).group(1)
    return json.loads(blob)


def test_report_is_one_self_contained_file_with_the_plots(binary_result, tmp_path):
    path = binary_result.report(tmp_path / "out" / "report.html")
    text = path.read_text()
    assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', text)  # nothing fetched from a CDN
    assert "Bokeh" in text and len(text) > 500_000  # BokehJS is inlined
    docs = _embedded_docs(text)
    dump = json.dumps(docs)
    for c in binary_result.candidates:
        expected = roc_auc_score(c.y_true, c.y_score[:, 1])
        assert f"{c.id} (AUC {expected:.3f})" in dump
    from jupyter_stratum.widgets.report import report_layout

    layout = report_layout(binary_result)
    names = {m.name for m in layout.references() if getattr(m, "name", None)}
    assert {"leaderboard", "roc", "pr", "confusion_matrix", "cv_spread", "cost"} <= names


def test_report_bad_path_is_a_clear_error(binary_result, tmp_path):
    from jupyter_stratum.errors import StratumError

    (tmp_path / "file").write_text("x")
    with pytest.raises(StratumError, match="Cannot write the report"):
        binary_result.report(tmp_path / "file" / "report.html")


def _cli(*args, cwd=None):
    return subprocess.run(
        [str(Path(sys.executable).parent / "stratum"), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=600,
    )


def test_cli_train_writes_report(tmp_path, dask_cluster, specs):
    spec = tmp_path / "diabetes.yaml"
    spec.write_text(specs["regression"])
    out = _cli(
        "train",
        str(spec),
        "--cluster",
        dask_cluster.address,
        "--no-register",
        "--quiet",
        "--report",
        str(tmp_path / "report.html"),
    )
    assert out.returncode == 0, out.stderr
    assert f"Report: {tmp_path / 'report.html'}" in out.stderr
    dump = json.dumps(_embedded_docs((tmp_path / "report.html").read_text()))
    assert "predicted_vs_actual" in dump and "residuals" in dump and "ridge" in dump

    # a report path in a missing folder fails before any training
    started = time.monotonic()
    bad = _cli("train", str(spec), "--cluster", dask_cluster.address, "--report", str(tmp_path / "no" / "r.html"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
    assert "Training" not in bad.stderr and time.monotonic() - started < 60


def test_long_runs_refresh_less_often():
    """After two minutes the refresh intervals stretch with the elapsed time (up to 4x)."""
    import jupyter_bokeh  # noqa: F401 - imported before timing

    from jupyter_stratum.widgets import plots  # noqa: F401
    from jupyter_stratum.widgets.training_view import TrainingView

    def gaps(elapsed_before: float) -> list[float]:
        view = TrainingView(display=False, min_interval=0.05, plot_interval=0.05, heartbeat=0)
        times = []
        original = view._render_text
        view._render_text = lambda: (times.append(time.monotonic()), original())
        events = _synthetic_events(10_000_000)  # lazy: never runs out within the 1.5 s on a fast machine
        while view.plot is None:  # the plan, first tasks, the worker plot built (slow once)
            view(next(events))
        times.clear()
        view.counter.started -= elapsed_before
        start = time.monotonic()
        while time.monotonic() - start < 1.5:
            view(next(events))
        return [b - a for a, b in zip(times[1:], times[2:])]

    fresh, late = gaps(0), gaps(3600)
    assert len(fresh) >= 3 and len(late) >= 2
    assert 0.045 <= min(fresh) < 0.15  # every 0.05 s (or as fast as events come)
    assert min(late) >= 0.19  # every 0.2 s: 4x


# ------------------------------------------------------------------ live leaderboard under real use
def _plan(n_folds: int, ids: list[str]):
    from types import SimpleNamespace

    return SimpleNamespace(metric="accuracy", n_folds=n_folds, candidates=[SimpleNamespace(id=i) for i in ids])


def test_live_leaderboard_ranks_finished_candidates_first_and_counts_folds():
    from jupyter_stratum.widgets.training_view import TrainingView

    view = TrainingView(display=False, min_interval=0, plot_interval=0, heartbeat=0)
    view(PlanReady(_plan(3, ["lucky", "steady", "waiting"]), 9, None))
    for fold, score in enumerate([0.90, 0.92, 0.91]):
        view(TaskFinished(f"s{fold}", "steady", fold, "w0", 0.1, {"accuracy": score}))
    view(TaskFinished("l0", "lucky", 0, "w1", 0.1, {"accuracy": 1.0}))  # one perfect fold so far
    rows = view.leaderboard_rows()
    assert [r["candidate"] for r in rows] == ["steady", "lucky", "waiting"]
    assert [r["status"] for r in rows] == ["done", "running", "queued"]
    board = view.leaderboard_html()
    assert "mean ± std over the folds done" in board and "(1 fold)" in board and "1/3" in board
    assert board.index("steady") < board.index("lucky")
    # the highlighted row is the finished one
    assert re.search(r"<tr style=\"font-weight:bold[^>]*><td>1</td><td[^>]*>steady<", board)

    view(RunFinished(2.345, 9, 0, cancelled=True))  # Stop
    statuses = {r["candidate"]: r["status"] for r in view.leaderboard_rows()}
    assert statuses == {"steady": "done", "lucky": "stopped", "waiting": "stopped"}
    assert "running" not in view.leaderboard_html() and "queued" not in view.leaderboard_html()
    assert "stopped: nothing registered" in view.status.value and view.bar.bar_style == "warning"
    assert "2.3 s" in view.status.value  # the run's own seconds, as the result's summary writes them


def test_failed_folds_all_count_and_the_reason_is_one_line():
    from jupyter_stratum.events import TaskFailed
    from jupyter_stratum.widgets.training_view import TrainingView

    view = TrainingView(display=False, min_interval=0, plot_interval=0, heartbeat=0)
    view(PlanReady(_plan(5, ["ridge"]), 5, None))
    for fold in range(5):
        view(TaskFailed(f"r{fold}", "ridge", fold, "ValueError: Unknown label type: continuous"))
    assert view.counter.failed == 5 and view.bar.value == 5
    assert "5 folds failed" in view.status.value
    assert view.failed["ridge"] == "fold 0: ValueError: Unknown label type: continuous"


def test_eta_comes_from_the_finish_rate_after_the_first_task():
    from jupyter_stratum.training.progress import ProgressCounter

    counter = ProgressCounter()
    t0 = time.time() - 10
    counter.update(PlanReady(_plan(5, [f"c{i}" for i in range(4)]), 20, None, time=t0))
    # the first task takes 8 s (workers start, libraries import), then one finishes every 0.5 s
    finish = [t0 + 8 + 0.5 * k for k in range(4)]
    for k, t in enumerate(finish):
        assert counter.eta is None or k >= 3
        counter.update(TaskFinished(f"t{k}", "c0", k, "w", 0.5, {}, time=t))
    eta = counter.eta
    # 16 tasks left at 2 per second: about 8 s (minus the time since the last finish), not 16 × 2.75 s
    assert eta is not None and 4 < eta <= 8


def test_numbers_are_not_padded():
    from jupyter_stratum.display import fmt, fmt_bytes, fmt_seconds

    assert fmt(11.8) == "11.8" and fmt(6.51) == "6.51" and fmt(0.9512) == "0.9512" and fmt(2.0) == "2"
    assert fmt(123456.0) == "123,456"
    assert fmt_seconds(6.51) == "6.5 s" and fmt_seconds(42.4) == "42 s" and fmt_seconds(125) == "2 min 05 s"
    assert fmt_bytes(11.8 * 2**30) == "11.8 GiB" and fmt_bytes(512 * 2**20) == "512 MiB"


def test_static_copy_has_the_leaderboard_and_curves_from_sklearn(binary_result):
    from sklearn.metrics import roc_curve

    from jupyter_stratum.widgets.static import static_html, svg_of_image

    page = static_html(binary_result)
    assert "<script" not in page
    assert 'class="stratum-leaderboard"' in page and "stratum-static-roc" in page and "stratum-static-pr" in page
    best = binary_result.best
    auc = best.roc_curve()["auc"]
    assert f"{best.id} (AUC {auc:.3f})" in page  # in the image's tooltip
    assert abs(auc - roc_auc_score(best.y_true, best.y_score[:, 1])) < 1e-12
    fpr, _, _ = roc_curve(best.y_true, best.y_score[:, 1])
    # the charts are <img> with an SVG data: source (JupyterLab's sanitizer drops inline <svg>)
    assert "<svg" not in page
    images = re.findall(r'<img class="stratum-static-plot[^>]*>', page)
    assert len(images) == 2
    svgs = [svg_of_image(img) for img in images]
    assert all(svg.startswith("<svg") for svg in svgs)
    assert sum(svg.count("<polyline") for svg in svgs) == 2 * len(plots.scored(binary_result.candidates))
    assert "Confusion matrix of " + best.id in page
    assert len(fpr) > 2


def test_live_and_summary_agree_on_the_run_seconds(binary_run):
    from jupyter_stratum.display import fmt_seconds
    from jupyter_stratum.widgets.training_view import TrainingView

    result, events = binary_run
    view = TrainingView(display=False, min_interval=0, plot_interval=0, heartbeat=0)
    for e in events:
        view(e)
    said = fmt_seconds(result.run_seconds)
    assert f"elapsed {said}" in view.status.value and f"tasks in {said}" in result.summary()


def test_stop_before_the_tasks_are_out_leaves_no_row_queued(binary_run):
    """Stop while loading/scattering: train() raises before any RunFinished; closing the view marks
    every candidate stopped, not queued under a finished bar."""
    from jupyter_stratum.events import PlanReady
    from jupyter_stratum.widgets.training_view import TrainingView

    _, events = binary_run
    view = TrainingView(display=False, min_interval=0, plot_interval=0, heartbeat=0)
    view(next(e for e in events if isinstance(e, PlanReady)))
    assert {r["status"] for r in view.leaderboard_rows()} == {"queued"}
    view.close()
    assert {r["status"] for r in view.leaderboard_rows()} == {"stopped"}
    assert "stopped: nothing registered" in view.static_bundle()["text/html"]
