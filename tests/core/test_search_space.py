"""Search spaces: distributions beside lists, the `search:` block, seeded draws equal to scikit-learn's
ParameterSampler, and every mistake reported with its line and field."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import ParameterSampler

from jupyter_stratum.errors import SpecError
from jupyter_stratum.spec import parse_spec
from jupyter_stratum.training import prepare

ISSUE_SPEC = """\
data: sklearn:breast_cancer
models:
  - logistic_regression: {C: loguniform(1e-3, 1e2)}
  - random_forest: {n_estimators: randint(50, 500), max_depth: [4, 8, 16, null]}
  - hist_gradient_boosting: {learning_rate: loguniform(0.01, 0.3), max_leaf_nodes: randint(8, 64)}
  - svc: {C: loguniform(0.1, 100), probability: true}
search: {strategy: halving, candidates: 200, factor: 3, resource: auto}
metric: roc_auc
"""


def test_the_issue_spec_parses_and_round_trips():
    spec = parse_spec(ISSUE_SPEC)
    assert spec.search.strategy == "halving" and spec.search.candidates == 200
    assert spec.models[0].params == {"C": "loguniform(1e-3, 1e2)"}
    assert parse_spec(spec.to_yaml()) == spec
    # a grid spec keeps its short form: no search block is written back
    assert "search" not in parse_spec("data: sklearn:iris\nmodels: [svc]\n").to_yaml()


def _error(text: str) -> tuple[int, str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    (issue,) = info.value.errors
    return issue.line, issue.field, issue.message


@pytest.mark.parametrize(
    ("text", "line", "field", "says"),
    [
        (  # a distribution in a grid
            "data: sklearn:iris\nmodels:\n  - svc: {C: loguniform(1e-3, 1e2)}\n",
            3,
            "models[0].params.C",
            "strategy: random",
        ),
        (
            "data: sklearn:iris\nmodels:\n  - svc:\n      C: loguniform(0, 1)\nsearch: {strategy: random}\n",
            4,
            "models[0].params.C",
            "low > 0",
        ),
        (  # bounds are checked against the parameter's own constraints
            "data: sklearn:iris\nmodels:\n  - svc:\n      kernel: rbf\n      C: uniform(-1, 1)\nsearch: {strategy: random}\n",
            5,
            "models[0].params.C",
            "C must be",
        ),
        (
            "data: sklearn:iris\nmodels:\n  - random_forest: {max_depth: randint(2.5, 8)}\nsearch: {strategy: random}\n",
            3,
            "models[0].params.max_depth",
            "integers",
        ),
        (
            "data: sklearn:iris\nmodels:\n  - random_forest: {criterion: choice(gini, entrop)}\n"
            "search: {strategy: random}\n",
            3,
            "models[0].params.criterion",
            "criterion must be",
        ),
        (
            "data: sklearn:iris\nmodels: [svc]\nsearch:\n  strategy: halving\n  factor: 1\n",
            5,
            "search.factor",
            "greater than 1",
        ),
        ("data: sklearn:iris\nmodels: [svc]\nsearch:\n  strategy: hyperband\n", 4, "search.strategy", "halving"),
        (
            "data: sklearn:iris\nmodels: [svc]\nsearch:\n  strategy: halving\n  budgett: 5\n",
            5,
            "search.budgett",
            "budget",
        ),
        ("data: sklearn:iris\nmodels: [svc]\nsearch: {candidates: 5}\n", 3, "search", "strategy random or halving"),
        (
            "data: sklearn:iris\nmodels: [svc]\nsearch:\n  strategy: halving\n  resource: n_estimators\n",
            5,
            "search.resource",
            "svc has no parameter n_estimators",
        ),
    ],
)
def test_every_search_mistake_names_its_line_and_field(text, line, field, says):
    got_line, got_field, message = _error(text)
    assert (got_line, got_field) == (line, field), message
    assert says in message


BREAST = load_breast_cancer(as_frame=True).frame


def _plan(text: str):
    return prepare(text, user_ns={"df": BREAST})[2]


def test_random_draws_are_scikit_learns_parameter_sampler_and_seeded():
    text = """\
data: df
target: target
split: {seed: 3}
models:
  - random_forest: {n_estimators: randint(10, 50), max_depth: [4, 8, null], max_features: uniform(0.2, 0.8)}
search: {strategy: random, candidates: 12, seed: 7}
"""
    plan = _plan(text)
    expected = list(
        ParameterSampler(
            {
                "n_estimators": stats.randint(10, 50),
                "max_depth": [4, 8, None],
                "max_features": stats.uniform(0.2, 0.8 - 0.2),
            },
            12,
            random_state=7,
        )
    )
    got = [{k: v for k, v in c.params.items() if k != "random_state"} for c in plan.candidates]
    assert got == [{k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()} for p in expected]
    assert all(c.params["random_state"] == 3 for c in plan.candidates)  # estimators keep the split's seed
    assert all(type(c.params["n_estimators"]) is int for c in plan.candidates)  # plain Python numbers
    assert [c.params for c in _plan(text).candidates] == [c.params for c in plan.candidates]
    other = _plan(text.replace("seed: 7", "seed: 8"))
    assert [c.params for c in other.candidates] != [c.params for c in plan.candidates]
    assert plan.n_tasks == 12 * 5 and plan.schedule is None


def test_draws_across_families_pick_a_model_then_its_params():
    plan = _plan(
        """\
data: df
target: target
models:
  - logistic_regression: {C: loguniform(1e-3, 1e2)}
  - decision_tree: {max_depth: randint(2, 12)}
  - random_forest: {n_estimators: [10, 20]}
search: {strategy: random, candidates: 30}
"""
    )
    families = {c.algorithm for c in plan.candidates}
    assert families == {"logistic_regression", "decision_tree_classifier", "random_forest_classifier"}
    assert len(plan.candidates) == 30 and len({c.id for c in plan.candidates}) == 30
    for c in plan.candidates:
        if c.algorithm == "logistic_regression":
            assert 1e-3 <= c.params["C"] <= 1e2
        elif c.algorithm == "decision_tree_classifier":
            assert 2 <= c.params["max_depth"] < 12


def test_halving_plan_has_scikit_learns_rungs():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import HalvingRandomSearchCV, StratifiedKFold, check_cv

    plan = _plan(
        "data: df\ntarget: target\nmodels:\n  - logistic_regression: {C: loguniform(1e-3, 1e2)}\n"
        "search: {strategy: halving, factor: 3}\n"
    )
    X = BREAST.drop(columns="target").iloc[: plan.n_train]
    y = BREAST["target"].iloc[: plan.n_train]
    search = HalvingRandomSearchCV(
        LogisticRegression(), {"C": stats.loguniform(1e-3, 1e2)}, factor=3, cv=StratifiedKFold(5), random_state=0
    )
    search._checked_cv_orig = check_cv(search.cv, y, classifier=True)
    search._check_input_parameters(X, y, {})  # 'smallest' and 'exhaust' as scikit-learn resolves them
    assert plan.schedule.min_resources == search.min_resources_
    assert plan.schedule.max_resources == search.max_resources_ == plan.n_train
    assert len(plan.candidates) == search.max_resources_ // search.min_resources_  # n_candidates='exhaust'
    # every rung is planned as scikit-learn iterates: ceil(candidates / factor^i) configurations on min * factor^i rows
    lines = plan.to_text().splitlines()
    assert "Halving (async, factor 3):" in lines
    n, r = len(plan.candidates), search.min_resources_
    for i in range(3):
        count = -(-n // 3**i)
        assert f"  rung {i}: {count} configurations × {r * 3**i} rows = {count * 5} tasks" in lines
    assert isinstance(pd.DataFrame(plan.rows()), pd.DataFrame)
