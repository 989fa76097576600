"""Deployment-aware choice: finalists measured (single-row latency on an exact ONNX copy or natively,
serialized size), misses marked, the best that fits chosen."""

from __future__ import annotations

import pytest
import skops.io

from jupyter_stratum.errors import SpecError
from jupyter_stratum.evaluate.constraints import Footprint, pareto_front
from jupyter_stratum.spec import parse_spec
from jupyter_stratum.training import train

pytestmark = pytest.mark.cluster

SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - random_forest: {n_estimators: 200}
  - logistic_regression: {C: [0.1, 1]}
metric: accuracy
constraints: {size_mb: 0.1}
"""


@pytest.fixture(scope="module")
def edge_result(client):
    return train(SPEC, name="edge", client=client)


def test_the_best_that_fits_is_chosen_and_misses_are_marked(edge_result):
    result = edge_result
    by_id = {f.candidate_id: f for f in result.footprints}
    assert set(by_id) == {c.id for c in result.candidates}  # every finalist measured
    forest = by_id["random_forest"]
    assert not forest.fits and forest.misses[0].startswith("size ")
    assert all(by_id[cid].fits for cid in by_id if cid.startswith("logistic"))
    # the chosen one is the leaderboard's best logistic regression, whatever the forest scored
    best_fitting = next(c for c in result.leaderboard.candidates if c.id.startswith("logistic"))
    assert result.chosen.candidate_id == result.best.id == best_fitting.id
    # its size is the skops artifact the registry would store; it runs as an exact ONNX copy
    assert result.chosen.size_mb == pytest.approx(len(skops.io.dumps(result.model)) / 1e6)
    assert result.chosen.runtime == "onnx" and result.chosen.latency_ms > 0
    text = result.to_text()
    assert "Deployment footprint" in text and "chosen" in text and "no: size" in text
    recorded = result.version.extra["footprint"]  # the registry keeps what it was chosen with
    assert recorded["size_mb"] == result.chosen.size_mb and recorded["constraints"] == {"size_mb": 0.1}
    front = result.pareto_front()
    assert front and all(isinstance(f, Footprint) for f in front)


def test_the_evaluation_view_shows_the_pareto_front_and_stars_the_best_that_fits(edge_result):
    from bokeh.models import Span

    from jupyter_stratum.widgets.evaluation_view import EvaluationView

    result = edge_result
    view = EvaluationView(result)
    assert view.titles[-1] == "Deployment"
    front = result.pareto_front()
    for x, fig in (("latency_ms", view.figures["pareto_latency"]), ("size_mb", view.figures["pareto_size"])):
        renderers = {r.name: r for r in fig.renderers}
        points = renderers["finalists"].data_source.data
        assert points["candidate"] == [f.candidate_id for f in result.footprints]
        assert points[x] == [getattr(f, x) for f in result.footprints] and points["score"] == [
            f.score for f in result.footprints
        ]
        on_front = [cid for cid, flag in zip(points["candidate"], points["front"]) if flag == "yes"]
        assert sorted(on_front) == sorted(f.candidate_id for f in front)
        missed = [c for c, fits in zip(points["color"], points["fits"]) if fits.startswith("no")]
        assert missed and set(missed) == {"#aaaaaa"}  # the forest misses the size limit: grey
        line = renderers["front"].data_source.data
        assert sorted(zip(line["x"], line["y"])) == sorted((getattr(f, x), f.score) for f in front)
        star = renderers["chosen"].data_source.data
        assert (star["x"], star["y"]) == ([getattr(result.chosen, x)], [result.chosen.score])
    limits = [s.location for s in view.figures["pareto_size"].center if isinstance(s, Span)]
    assert limits == [0.1]  # the size limit drawn where it is
    deployment = view.widget.children[-1]
    assert "the best that fits" in deployment.children[0].value and result.chosen.candidate_id in (
        deployment.children[0].value
    )


def test_pareto_front_keeps_only_undominated_finalists():
    a = Footprint("a", 0.95, 2.0, 1.0, "onnx")
    b = Footprint("b", 0.93, 0.5, 1.0, "onnx")
    c = Footprint("c", 0.92, 0.6, 1.0, "native")  # worse than b on both
    assert [f.candidate_id for f in pareto_front([a, b, c])] == ["a", "b"]
    assert [f.candidate_id for f in pareto_front([a, b, c], greater_is_better=False)] == ["c", "b"]


def test_constraints_errors_name_line_and_field():
    with pytest.raises(SpecError) as info:
        parse_spec("data: sklearn:iris\nmodels: [svc]\nconstraints:\n  latency_ms: -1\n")
    (issue,) = info.value.errors
    assert (issue.line, issue.field) == (4, "constraints.latency_ms")
    with pytest.raises(SpecError) as info:
        parse_spec("data: sklearn:iris\nmodels: [svc]\nconstraints: {}\n")
    assert "latency_ms, size_mb or both" in str(info.value)
    spec = parse_spec("data: sklearn:iris\nmodels: [svc]\nconstraints: {latency_ms: 1.0, size_mb: 20}\n")
    assert parse_spec(spec.to_yaml()) == spec
