"""A halving plan (the dry run) shows every rung: how many configurations reach it, its tasks and
what each configuration gets there, not just the first rung's tasks."""

from __future__ import annotations

from html import escape

from jupyter_stratum.training.run import prepare

SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 3, seed: 0}
models:
  - logistic_regression: {C: loguniform(1e-3, 1e2)}
  - random_forest: {n_estimators: randint(20, 60)}
search: {strategy: halving, candidates: 12, factor: 3, min_resources: 50, seed: 2}
"""


def test_the_plan_lists_every_rungs_count_and_resource():
    plan = prepare(SPEC)[2]
    rungs = plan.rungs
    assert [(r.rung, r.configurations, r.tasks, r.n_resources) for r in rungs] == [
        (0, 12, 36, 50),
        (1, 4, 12, 150),
        (2, 2, 6, 450),
    ]
    assert plan.n_tasks == sum(r.tasks for r in rungs) == 54
    assert len(plan.tasks) == 36  # the tasks known before the search runs: the first rung's
    text = plan.to_text()
    for r in rungs:
        assert r.text in text
    assert "rung 1: 4 configurations × 150 rows = 12 tasks; 33% of each configuration's n_estimators" in text
    html = plan._repr_html_()
    assert all(f"<li>{escape(r.text)}</li>" in html for r in rungs)


def test_a_plan_without_halving_has_no_rungs():
    plan = prepare(
        SPEC.replace(
            "strategy: halving, candidates: 12, factor: 3, min_resources: 50", "strategy: random, candidates: 4"
        )
    )[2]
    assert plan.rungs == [] and "rung 0" not in plan.to_text()
