"""A battery of user mistakes: each gets its own clear message, and none leaves anything in the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_stratum.errors import ClusterError, DataError, SpecError, StratumError, TrainingError
from jupyter_stratum.registry import open_registry
from jupyter_stratum.training import train

GOOD_MODELS = "models: [logistic_regression]\n"


def frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "label": np.arange(n) % 2})
    return df


def ns(**extra):
    out = {"df": frame()}
    out.update(extra)
    return out


nan_target = frame()
nan_target.loc[3, "label"] = np.nan
one_class = frame().assign(label=1)
rare_class = frame().assign(label=[0] * 57 + [1] * 3)
text_target_regression = frame().assign(label=["x", "y"] * 30)

CASES = [
    # (id, spec, namespace, exception type, substrings the message must hold)
    (
        "unknown algorithm",
        "data: df\ntarget: label\nmodels: [random_forrest]\n",
        ns(),
        SpecError,
        ["line 3", "Unknown algorithm 'random_forrest'", "Did you mean 'random_forest'"],
    ),
    (
        "bad param type",
        "data: df\ntarget: label\nmodels:\n  - logistic_regression: {C: abc}\n",
        ns(),
        SpecError,
        ["line 4", "C must be a float in the range (0.0, inf], got 'abc'"],
    ),
    (
        "bad param value",
        "data: df\ntarget: label\nmodels:\n  - random_forest: {n_estimators: 0}\n",
        ns(),
        SpecError,
        ["n_estimators must be an int in the range [1, inf), got 0"],
    ),
    (
        "unknown param",
        "data: df\ntarget: label\nmodels:\n  - svc: {gama: 1}\n",
        ns(),
        SpecError,
        ["svc has no parameter 'gama'", "Did you mean 'gamma'"],
    ),
    (
        "bad enum value",
        "data: df\ntarget: label\nmodels:\n  - random_forest: {criterion: ginny}\n",
        ns(),
        SpecError,
        ["criterion must be a str among", "got 'ginny'"],
    ),
    (
        "bad value in search space",
        "data: df\ntarget: label\nmodels:\n  - logistic_regression: {C: [1, -2]}\n",
        ns(),
        SpecError,
        ["C must be a float in the range (0.0, inf], got -2"],
    ),
    (
        "empty search space",
        "data: df\ntarget: label\nmodels:\n  - logistic_regression: {C: []}\n",
        ns(),
        SpecError,
        ["an empty list gives no candidates"],
    ),
    (
        "missing target column",
        "data: df\ntarget: lable\n" + GOOD_MODELS,
        ns(),
        DataError,
        ["no column 'lable'", "Did you mean 'label'"],
    ),
    ("no target given", "data: df\n" + GOOD_MODELS, ns(), DataError, ["No target given", "label"]),
    (
        "empty data",
        "data: empty\ntarget: label\n" + GOOD_MODELS,
        ns(empty=frame().iloc[:0]),
        DataError,
        ["is empty (0 rows)"],
    ),
    (
        "NaN in target",
        "data: df\ntarget: label\n" + GOOD_MODELS,
        ns(df=nan_target),
        DataError,
        ["1 missing value(s) (NaN)", "dropna"],
    ),
    ("single class", "data: df\ntarget: label\n" + GOOD_MODELS, ns(df=one_class), DataError, ["single class"]),
    (
        "class too rare for cv",
        "data: df\ntarget: label\n" + GOOD_MODELS,
        ns(df=rare_class),
        DataError,
        ["only 3 row(s)", "Lower cv"],
    ),
    (
        "metric does not fit task",
        "data: df\ntarget: label\nmodels: [logistic_regression]\nmetric: r2\n",
        ns(),
        SpecError,
        ["metric 'r2' is for regression", "the task is classification"],
    ),
    (
        "unknown metric",
        "data: df\ntarget: label\nmodels: [logistic_regression]\nmetric: auc\n",
        ns(),
        SpecError,
        ["unknown metric 'auc'", "roc_auc"],
    ),
    (
        "metric needs probabilities",
        "data: df\ntarget: label\nmodels: [svc]\nmetric: log_loss\n",
        ns(),
        SpecError,
        ["svc gives no probabilities", "probability: true"],
    ),
    (
        "classifier for regression",
        "data: sklearn:diabetes\nmodels: [logistic_regression]\n",
        {},
        SpecError,
        ["'logistic_regression' is a classifier, not a regressor", "task inferred from the target: regression"],
    ),
    (
        "regression on text target",
        "data: df\ntarget: label\ntask: regression\nmodels: [linear_regression]\n",
        ns(df=text_target_regression),
        DataError,
        ["is not numeric", "task: classification"],
    ),
    (
        "YAML syntax error",
        "data: df\ntarget: label\nmodels: [logistic_regression\n",
        ns(),
        SpecError,
        ["YAML syntax error", "line"],
    ),
    ("YAML not a mapping", "- data\n- models\n", ns(), SpecError, ["must be a mapping of fields"]),
    ("empty spec", "", ns(), SpecError, ["the spec is empty"]),
    (
        "unknown field",
        "data: df\ntarget: label\nmodles: [svc]\nmodels: [svc]\n",
        ns(),
        SpecError,
        ["line 3", "unknown field 'modles'", "Did you mean 'models'"],
    ),
    ("models missing", "data: df\ntarget: label\n", ns(), SpecError, ["'models' is required"]),
    ("models empty", "data: df\ntarget: label\nmodels: []\n", ns(), SpecError, ["'models' is empty"]),
    (
        "bad task",
        "data: df\ntarget: label\ntask: clasification\n" + GOOD_MODELS,
        ns(),
        SpecError,
        ["task must be 'classification' or 'regression'"],
    ),
    (
        "bad split",
        "data: df\ntarget: label\nsplit: {test_size: 1.5}\n" + GOOD_MODELS,
        ns(),
        SpecError,
        ["split.test_size", "less than 1"],
    ),
    (
        "cv too small",
        "data: df\ntarget: label\nsplit: {cv: 1}\n" + GOOD_MODELS,
        ns(),
        SpecError,
        ["split.cv", "greater than or equal to 2"],
    ),
    (
        "unknown split key",
        "data: df\ntarget: label\nsplit: {folds: 3}\n" + GOOD_MODELS,
        ns(),
        SpecError,
        ["unknown field 'folds'", "Valid fields: test_size, cv, seed"],
    ),
    (
        "params not a mapping",
        "data: df\ntarget: label\nmodels:\n  - svc: 3\n",
        ns(),
        SpecError,
        ["the parameters of svc must be a mapping"],
    ),
    (
        "unknown preprocessing step",
        "data: df\ntarget: label\npreprocess: [standard_scalar]\n" + GOOD_MODELS,
        ns(),
        SpecError,
        ["Unknown algorithm 'standard_scalar'", "standard_scaler"],
    ),
    (
        "classifier as preprocessing",
        "data: df\ntarget: label\npreprocess: [svc]\n" + GOOD_MODELS,
        ns(),
        SpecError,
        ["'svc' is a classifier, not a transformer"],
    ),
    (
        "unknown variable",
        "data: frame_x\ntarget: label\n" + GOOD_MODELS,
        ns(),
        DataError,
        ["No variable named 'frame_x'"],
    ),
    (
        "variable not a DataFrame",
        "data: arr\ntarget: label\n" + GOOD_MODELS,
        ns(arr=np.zeros((3, 3))),
        DataError,
        ["'arr' is a ndarray, not a pandas DataFrame"],
    ),
    (
        "unreadable file",
        "data: /nonexistent/churn.csv\ntarget: label\n" + GOOD_MODELS,
        {},
        DataError,
        ["Data file not found: /nonexistent/churn.csv"],
    ),
    (
        "unknown bundled dataset",
        "data: sklearn:breast_cancr\n" + GOOD_MODELS,
        {},
        DataError,
        ["Unknown bundled data set 'sklearn:breast_cancr'", "sklearn:breast_cancer"],
    ),
    (
        "negative resource",
        "data: df\ntarget: label\nmodels:\n  - algorithm: svc\n    resources: {GPU: -1}\n",
        ns(),
        SpecError,
        ["resource GPU must be > 0"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_its_message_and_registers_nothing(case, stratum_home):
    _, spec, namespace, exc_type, fragments = case
    with pytest.raises(exc_type) as info:
        train(spec, name="bad", user_ns=namespace)
    # the front-ends show a StratumError's message instead of a traceback: every user mistake must be one
    assert isinstance(info.value, StratumError), type(info.value).__mro__
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message
    assert open_registry().names() == []
    artifacts = [p for p in stratum_home.rglob("*") if p.is_file() and not p.name.startswith("registry.sqlite")]
    assert artifacts == [], artifacts


def test_unreadable_file_content(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_text("this is not parquet")
    with pytest.raises(DataError, match="Could not read .*broken.parquet"):
        train(f"data: {bad}\ntarget: y\n" + GOOD_MODELS, name="bad")
    assert open_registry().names() == []


def test_bad_model_name_rejected_before_training():
    with pytest.raises(SpecError, match="Invalid model name"):
        train("data: df\ntarget: label\n" + GOOD_MODELS, name="bad name!", user_ns=ns())


def test_unreachable_scheduler_says_what_to_do():
    with pytest.raises(
        ClusterError, match="Cannot reach the Dask scheduler at tcp://127.0.0.1:1.*embedded local cluster"
    ):
        train("data: df\ntarget: label\n" + GOOD_MODELS, name="bad", user_ns=ns(), cluster="tcp://127.0.0.1:1")
    assert open_registry().names() == []


@pytest.mark.cluster
def test_missing_resource_on_cluster(client):
    spec = "data: df\ntarget: label\nmodels:\n  - algorithm: logistic_regression\n    resources: {GPU: 1}\n"
    with pytest.raises(ClusterError, match="asks for GPU=1, but no worker .* offers it.*--resources GPU=1"):
        train(spec, name="bad", user_ns=ns(), client=client)
    assert open_registry().names() == []


@pytest.mark.cluster
def test_every_candidate_failing_registers_nothing(client):
    # string features with no numeric columns but a model that can't take the one-hot output densely is fine;
    # a failing fit: n_neighbors larger than a fold's training rows
    spec = "data: df\ntarget: label\nsplit: {cv: 2}\nmodels:\n  - k_neighbors: {n_neighbors: 500}\n"
    with pytest.raises(TrainingError, match="Every candidate failed, nothing was registered.*n_neighbors"):
        train(spec, name="bad", user_ns=ns(), client=client)
    assert open_registry().names() == []


@pytest.mark.cluster
def test_one_failing_candidate_is_reported_and_the_rest_win(client):
    spec = "data: df\ntarget: label\nsplit: {cv: 2}\nmodels:\n  - k_neighbors: {n_neighbors: 500}\n  - logistic_regression\n"
    result = train(spec, name="partial", user_ns=ns(), client=client)
    failed = result.candidate("k_neighbors")
    assert failed.failed and "n_neighbors" in failed.error
    assert result.best.id == "logistic_regression"
    assert "error" in result.leaderboard.to_text()
    assert open_registry().names() == ["partial"]
