"""The figures hold what scikit-learn computes on the same predictions.

Results come from real runs on the session's Dask cluster (scheduler + 2 worker
processes); the out-of-fold predictions are checked against sklearn's
``cross_val_predict`` on the same folds, and every plotted number against
sklearn.metrics on those predictions.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import auc, average_precision_score, confusion_matrix, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jupyter_stratum.widgets import plots

pytestmark = pytest.mark.cluster


def _renderers(fig, prefix):
    return {r.name.split(":", 1)[1]: r for r in fig.renderers if r.name and r.name.startswith(prefix)}


def _train_part(loader, stratify: bool):
    X, y = loader(return_X_y=True, as_frame=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y if stratify else None)
    return X_train, y_train


def test_oof_predictions_are_sklearns_cross_val_predict(binary_result):
    """The data every plot is drawn from: sklearn's own out-of-fold predictions on the same folds."""
    X_train, y_train = _train_part(load_breast_cancer, stratify=True)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1, random_state=0))
    proba = cross_val_predict(model, X_train, y_train, cv=cv, method="predict_proba")
    pred = cross_val_predict(model, X_train, y_train, cv=cv)
    cand = binary_result.candidate("logistic_regression(C=1)")
    np.testing.assert_array_equal(cand.y_true, np.asarray(y_train))
    np.testing.assert_allclose(cand.y_score, proba, atol=1e-12)
    np.testing.assert_array_equal(cand.y_pred, pred)


def test_roc_one_curve_per_candidate_auc_equals_sklearn(binary_result):
    cands = binary_result.candidates
    fig = plots.roc_figure(cands, best_id=binary_result.best.id)
    curves = _renderers(fig, "roc:")
    assert sorted(curves) == sorted(c.id for c in cands)  # one curve per candidate, nothing else
    legend = [item.label.value for item in fig.legend[0].items]
    assert len(legend) == len(cands)
    for c in cands:
        expected = roc_auc_score(c.y_true, c.y_score[:, 1])
        r = curves[c.id]
        data = r.data_source.data
        # the plotted points integrate to sklearn's AUC, the legend and the tag say the same number
        assert auc(data["fpr"], data["tpr"]) == pytest.approx(expected, abs=1e-12)
        assert r.tags[0]["auc"] == pytest.approx(expected, abs=1e-12)
        assert f"{c.id} (AUC {expected:.3f})" in legend
        assert data["fpr"][0] == 0 and data["tpr"][-1] == 1
    # the selected model's curve is drawn thicker
    assert curves[binary_result.best.id].glyph.line_width == 3


def test_pr_curve_average_precision_equals_sklearn(binary_result):
    fig = plots.pr_figure(binary_result.candidates)
    curves = _renderers(fig, "pr:")
    assert sorted(curves) == sorted(c.id for c in binary_result.candidates)
    for c in binary_result.candidates:
        expected = average_precision_score(c.y_true, c.y_score[:, 1])
        assert curves[c.id].tags[0]["average_precision"] == pytest.approx(expected, abs=1e-12)
        data = curves[c.id].data_source.data
        assert len(data["recall"]) == len(data["precision"]) > 2


def test_multiclass_roc_is_one_vs_rest_per_class(multiclass_result):
    X_train, y_train = _train_part(load_iris, stratify=True)
    classes = list(multiclass_result.classes)
    assert len(classes) == 3
    cands = multiclass_result.candidates
    for index, cls in enumerate(classes):
        fig = plots.roc_figure(cands, cls)
        curves = _renderers(fig, "roc:")
        assert sorted(curves) == sorted(c.id for c in cands)
        for c in cands:
            expected = roc_auc_score(np.asarray(c.y_true) == cls, c.y_score[:, index])
            data = curves[c.id].data_source.data
            assert auc(data["fpr"], data["tpr"]) == pytest.approx(expected, abs=1e-12)
            assert curves[c.id].tags[0]["pos_label"] == str(cls)
    # the same predictions sklearn makes
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    proba = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression(random_state=0)),
        X_train,
        y_train,
        cv=cv,
        method="predict_proba",
    )
    np.testing.assert_allclose(multiclass_result.candidate("logistic_regression").y_score, proba, atol=1e-12)


@pytest.mark.parametrize("normalize", [None, "true", "pred"])
def test_confusion_matrix_equals_sklearn(binary_result, multiclass_result, normalize):
    for result in (binary_result, multiclass_result):
        for c in result.candidates:
            fig = plots.confusion_figure(c, normalize)
            expected = confusion_matrix(c.y_true, c.y_pred, labels=result.classes, normalize=normalize)
            np.testing.assert_allclose(plots.confusion_matrix_of(fig), expected, atol=1e-12)
            if normalize is None:
                assert plots.confusion_matrix_of(fig).sum() == len(c.y_true)
            # the axes name the classes, in order
            assert list(fig.x_range.factors) == [str(k) for k in result.classes]


def test_holdout_confusion_matrix_equals_sklearn(binary_result):
    hold = binary_result.holdout
    fig = plots.confusion_figure(
        binary_result.best, classes=binary_result.classes, y_true=hold["y_true"], y_pred=hold["y_pred"]
    )
    np.testing.assert_array_equal(
        plots.confusion_matrix_of(fig), confusion_matrix(hold["y_true"], hold["y_pred"], labels=binary_result.classes)
    )


def test_regression_plots_hold_sklearns_oof_predictions(regression_result):
    X_train, y_train = _train_part(load_diabetes, stratify=False)
    cv = KFold(n_splits=4, shuffle=True, random_state=0)
    pred = cross_val_predict(
        make_pipeline(StandardScaler(), Ridge(alpha=10.0, random_state=0)), X_train, y_train, cv=cv
    )
    cand = regression_result.candidate("ridge")
    scatter, residuals = plots.regression_figures(cand)
    points = next(r for r in scatter.renderers if r.name == "predicted")
    x = np.asarray(points.data_source.data[points.glyph.x])
    y = np.asarray(points.data_source.data[points.glyph.y])
    assert len(x) == len(y_train)
    np.testing.assert_allclose(x, np.asarray(y_train, dtype=float))  # actual on x
    np.testing.assert_allclose(y, pred, atol=1e-9)  # predicted on y
    res = next(r for r in residuals.renderers if r.name == "residual")
    rx = np.asarray(res.data_source.data[res.glyph.x])
    ry = np.asarray(res.data_source.data[res.glyph.y])
    np.testing.assert_allclose(rx, pred, atol=1e-9)
    np.testing.assert_allclose(ry, np.asarray(y_train, dtype=float) - pred, atol=1e-9)


def test_cv_spread_and_cost_hold_fold_scores_and_seconds(binary_result):
    cands = binary_result.candidates
    fig = plots.cv_spread_figure(cands, "roc_auc")
    pts = next(r for r in fig.renderers if r.name == "cv_points").data_source.data
    for c in cands:
        mine = [s for cid, s in zip(pts["candidate"], pts["score"]) if cid == c.id]
        assert mine == c.fold_scores("roc_auc")
    summary = next(r for r in fig.renderers if r.name == "cv_mean").data_source.data
    assert summary["mean"] == pytest.approx([c.mean("roc_auc") for c in cands])

    cost = plots.cost_figure(cands).select_one({"name": "cost", "type": plots.ColumnDataSource})
    workers = {f.worker for c in cands for f in c.folds}
    assert workers and workers <= {"cpu-1", "cpu-2"}
    for i, c in enumerate(cands):
        assert sum(cost.data[w][i] for w in workers) == pytest.approx(c.fit_seconds)
        for w in workers:
            assert cost.data[w][i] == pytest.approx(sum(f.fit_seconds for f in c.folds if f.worker == w))


def test_leaderboard_table_order_best_and_values(binary_result):
    table = plots.leaderboard_table(binary_result)
    data = table.source.data
    board = binary_result.leaderboard
    assert data["candidate"] == [c.id for c in board.candidates]
    assert data["best"] == [c.id == binary_result.best.id for c in board.candidates]
    assert data["roc_auc"] == pytest.approx([c.mean("roc_auc") for c in board.candidates])
    assert table.sortable
    fields = [col.field for col in table.columns]
    for m in board.metrics:  # every metric of the task, and the fit time
        assert m in fields
    assert "fit_seconds" in fields


def test_leaderboard_is_compact_with_the_candidate_frozen(binary_result):
    table = plots.leaderboard_table(binary_result)
    board = binary_result.leaderboard
    shown = [c.field for c in table.columns if c.visible]
    assert shown[:4] == ["rank", "candidate", board.metric, f"{board.metric}_std"]
    assert len(shown) <= 10 and "status" in shown and "fit_seconds" in shown
    assert table.frozen_columns == 2  # rank and candidate never scroll away
    assert table.width <= plots.TABLE_MAX_WIDTH
    hidden = [c.field for c in table.columns if not c.visible]
    assert hidden and all(plots.MORE in c.tags for c in table.columns if not c.visible)
    plots.show_all_columns(table, True)
    assert all(c.visible for c in table.columns)
    assert {m for m in board.metrics} <= {c.field for c in table.columns}
    plots.show_all_columns(table, False)
    assert [c.field for c in table.columns if c.visible] == shown
    full = plots.leaderboard_table(binary_result, compact=False)
    assert all(c.visible for c in full.columns)


def test_figures_fit_beside_the_sidebar_and_the_cost_legend_is_outside(binary_result):
    from bokeh.models import Legend

    assert 2 * plots.WIDTH <= 840  # the output area of a notebook at 1280 px with the sidebar open
    cost = plots.cost_figure(binary_result.candidates)
    assert cost.width <= 840
    legends = [r for r in cost.above if isinstance(r, Legend)]
    assert len(legends) == 1 and not [r for r in cost.center if isinstance(r, Legend)]
    from bokeh.models import Plot

    activity = plots.worker_activity_figure(plots.worker_activity_source(["local-0", "local-1"]))
    charts = list(activity.select({"type": Plot}))
    assert len(charts) == 2 and sum(f.width for f in charts) <= 840
