"""Registered pipelines: checked against the registry (line and field), pinned to model versions, bundled with
every model and served as one OIP model whose answers equal composing the registered models in Python."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import lineage_of

from jupyter_stratum.commands import CommandContext, parse
from jupyter_stratum.commands import run as run_command
from jupyter_stratum.errors import SpecError

CASCADE = """\
inputs: {from: cancer@1}
steps:
  - screen: {model: cancer@1}
  - route:  {switch: "screen.score > 0.8", then: deep, else: fast}
  - deep:   {model: pl-deep@champion}
  - fast:   {model: pl-fast}
  - label:  {map: {0: malignant, 1: benign}, of: route}
output: route
"""
#: pl-small takes three of the input's columns, one renamed: a columns step picks them for it
SMALL = ["mean radius", "mean texture", "worst area"]
RENAME = {"worst area": "area"}
COLUMNS = """\
inputs: {from: cancer@1}
steps:
  - a: {model: cancer@1}
  - pick: {columns: [mean radius, mean texture, worst area], rename: {worst area: area}}
  - small: {model: pl-small, input: pick}
  - avg: {ensemble: [a, small], method: mean}
"""
#: a step function of the user's own: rows the screen is unsure of go to review
RULES = """\
import numpy as np


def review_unsure(labels, proba, classes):
    sure = np.asarray(proba).max(axis=1) >= 0.9
    return [label if ok else "review" for label, ok in zip(labels, sure)]
"""
FUNCTION = """\
inputs: {from: cancer@1}
steps:
  - screen: {model: cancer@1}
  - triage: {function: "stratum_test_rules:review_unsure", of: screen}
"""
ENSEMBLE = """\
steps:
  - a: {model: cancer@1}
  - b: {model: pl-deep@champion}
  - c: {model: pl-fast}
  - avg: {ensemble: [a, b, c], method: mean}
"""


@pytest.fixture(scope="module")
def trio(registry, cancer, logreg):
    """cancer@1 (the shared logistic regression), pl-deep@1 (a forest, alias champion), pl-fast@1 (a strong LR)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = cancer
    fitted = {"screen": logreg.model}
    for name, model in [
        ("deep", RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1)),
        ("fast", make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))),
    ]:
        model.fit(X_train, y_train)
        registry.register(f"pl-{name}", model, lineage=lineage_of(model, X_train, X_test, "classification", [0, 1]))
        fitted[name] = model
    small = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    small.fit(X_train[SMALL].rename(columns=RENAME), y_train)
    few_train, few_test = X_train[SMALL].rename(columns=RENAME), X_test[SMALL].rename(columns=RENAME)
    registry.register("pl-small", small, lineage=lineage_of(small, few_train, few_test, "classification", [0, 1]))
    fitted["small"] = small
    registry.set_alias("pl-deep", "champion", 1)
    return fitted, X_test


@pytest.fixture
def rules_on_path(tmp_path, monkeypatch):
    """stratum_test_rules.py beside the 'notebook' (a folder on sys.path while the pipeline registers)."""
    (tmp_path / "stratum_test_rules.py").write_text(RULES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "stratum_test_rules.py"


def _register(registry, name, text, cell=True, tmp_path=None):
    if cell:  # %%stratum pipeline NAME: the cell body is the YAML
        from IPython.core.interactiveshell import InteractiveShell

        from jupyter_stratum.magics import StratumCellError, StratumMagics

        shell = InteractiveShell.instance()
        shell.register_magics(StratumMagics)
        try:
            return shell.run_cell_magic("stratum", f"pipeline {name} --home {registry.root}", text)
        except StratumCellError as exc:
            raise exc.error from None
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    args = parse(["pipeline", str(path), "--name", name, "--home", str(registry.root)])
    return run_command(args, CommandContext())


def test_registered_pipeline_pins_every_model_version(registry, trio, cancer, tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    shown = _register(registry, "cascade", CASCADE, cell=False, tmp_path=tmp_path)
    assert shown.version is not None and "cascade@" in shown.to_text()
    mv = registry.get(f"cascade@{shown.version}")
    pins = {"screen": "cancer@1", "deep": "pl-deep@1", "fast": "pl-fast@1"}
    assert mv.flavor == "pipeline" and mv.extra["pipeline"]["models"] == pins
    assert mv.extra["pipeline"]["requested"]["deep"] == "pl-deep@champion"
    assert [next(iter(s.values())).get("model") for s in mv.load()["steps"]][:1] == ["cancer@1"]
    assert mv.task == "classification" and mv.classes == [0, 1]

    # moving the alias afterwards changes neither this version nor its graph
    X_train, X_test, y_train, _ = cancer
    other = RandomForestClassifier(n_estimators=5, random_state=1, n_jobs=1).fit(X_train, y_train)
    v2 = registry.register("pl-deep", other, lineage=lineage_of(other, X_train, X_test, "classification", [0, 1]))
    registry.set_alias("pl-deep", "champion", v2.version)
    try:
        assert registry.get(mv.ref).extra["pipeline"]["models"]["deep"] == "pl-deep@1"
        again = _register(registry, "cascade-next", CASCADE)  # the cell magic's path
        assert again.models["deep"] == f"pl-deep@{v2.version}"
    finally:
        registry.set_alias("pl-deep", "champion", 1)


@pytest.mark.parametrize(
    "text, words",
    [
        (CASCADE.replace("pl-deep@champion", "pl-deep@gold"), ["line 5, steps[2].deep.model", "no alias 'gold'"]),
        (CASCADE.replace("pl-fast}", "nope@2}"), ["line 6, steps[3].fast.model", "No model named 'nope'"]),
        (CASCADE.replace("pl-fast}", "diabetes}"), ["line 6, steps[3].fast.model", "does not take the pipeline"]),
        (
            COLUMNS.replace(", input: pick", ""),
            ["line 5, steps[2].small.model", "needs columns the input lacks: ['area']", "a columns step can pick"],
        ),
        (COLUMNS.replace("worst area]", "worst areas]"), ["line 4, steps[1].pick.rename", "not among the selected"]),
        (
            COLUMNS.replace("worst area], rename: {worst area: area}", "area]"),
            ["line 4, steps[1].pick.columns", "has no columns ['area']"],
        ),
        (
            "steps:\n  - a: {model: cancer@1}\n  - r: {switch: 'a.score > 0.5', then: b, else: a}\n"
            "  - b: {ensemble: [r, a]}\n",
            ["line 4, steps[2].b.ensemble: 'r' makes a cycle (r -> b -> r)"],
        ),
        (CASCADE.replace("output: route", "output: nowhere"), ["line 8, output", "no step named 'nowhere'"]),
        (
            FUNCTION.replace("stratum_test_rules", "no_such_rules"),
            ["line 4, steps[1].triage.function", "no_such_rules.py"],
        ),
        (
            FUNCTION.replace(":review_unsure", ":review"),
            ["line 4, steps[1].triage.function", "has no function 'review'"],
        ),
        (
            FUNCTION.replace('"stratum_test_rules:review_unsure"', "rules.review"),
            ["steps[1].triage.function", "MODULE:NAME"],
        ),
        (CASCADE.replace("inputs:", "input:"), ["line 1, input", "unknown field 'input'"]),
        (
            "steps:\n  - v: {model: diabetes}\n  - t: {threshold: 0.5}\n",
            ["line 3, steps[1].t.threshold", "needs class probabilities"],
        ),
    ],
)
def test_pipeline_errors_give_the_line_and_field(registry, trio, diabetes, rules_on_path, text, words):
    before = len(registry.names())
    with pytest.raises(SpecError) as info:
        _register(registry, "broken", text)
    for w in words:
        assert w in str(info.value), str(info.value)
    assert len(registry.names()) == before  # nothing registered


def _expected(fitted, X, kind):
    if kind == "cascade":
        confident = fitted["screen"].predict_proba(X)[:, 1] > 0.8
        assert 0 < confident.sum() < len(X)  # both branches take rows
        proba = np.where(confident[:, None], fitted["deep"].predict_proba(X), fitted["fast"].predict_proba(X))
        labels = np.where(confident, fitted["deep"].predict(X), fitted["fast"].predict(X))
        return labels, proba, confident
    if kind == "columns":
        few = X[SMALL].rename(columns=RENAME)
        proba = np.mean([fitted["screen"].predict_proba(X), fitted["small"].predict_proba(few)], axis=0)
        return proba.argmax(axis=1), proba, None
    proba = np.mean([fitted[k].predict_proba(X) for k in ("screen", "deep", "fast")], axis=0)
    return proba.argmax(axis=1), proba, None


@pytest.mark.parametrize("kind", ["cascade", "ensemble", "columns"])
def test_served_pipeline_equals_composing_the_models(registry, trio, bundles, serve, kind):
    fitted, X = trio
    name = f"served-{kind}"
    shown = _register(registry, name, {"cascade": CASCADE, "ensemble": ENSEMBLE, "columns": COLUMNS}[kind])
    argv = ["bundle", f"{name}@{shown.version}", "--out", str(bundles / name), "--force", "--no-tarball"]
    bundle = run_command(parse([*argv, "--home", str(registry.root)]), CommandContext())  # stratum bundle NAME@V
    members = 2 if kind == "columns" else 3
    assert bundle.manifest["kind"] == "pipeline" and len(bundle.manifest["model"]["members"]) == members
    assert bundle.manifest["onnx"]["reason"].startswith(f"{members} of {members} models have an exact ONNX copy")
    server = serve(bundle.path)
    labels, proba, confident = _expected(fitted, X, kind)

    body = {
        "inputs": [{"name": c, "shape": [len(X)], "datatype": "FP64", "data": X[c].tolist()} for c in X.columns],
        "parameters": {"trace": True},
    }
    status, answer, _ = server.post(f"/v2/models/{name}/infer", body)
    assert status == 200, answer
    out = {o["name"]: o for o in answer["outputs"]}
    assert out["predict"]["data"] == labels.tolist()
    got = np.asarray(out["predict_proba"]["data"]).reshape(len(X), -1)
    assert np.abs(got - proba).max() <= 1e-6
    trace = {t["step"]: t for t in answer["parameters"]["trace"]}
    if kind == "cascade":  # a branch runs only on the rows the switch sends it
        assert trace["screen"]["rows"] == len(X) and trace["deep"]["rows"] == int(confident.sum())
        assert trace["fast"]["rows"] == len(X) - int(confident.sum()) and "label" not in trace
    elif kind == "columns":  # the model behind the columns step answers on its own three columns
        assert set(trace) == {"a", "small", "avg"} and trace["small"]["rows"] == len(X)
    else:
        assert set(trace) == {"a", "b", "c", "avg"}
    assert all(t["ms"] >= 0 for t in trace.values())

    # /predict: the same answers, row by row through the micro-batcher
    status, answer, _ = server.post("/predict", {"records": X.head(7).to_dict(orient="records")})
    assert status == 200, answer
    assert answer["predictions"] == labels[:7].tolist()

    m = server.metrics()
    first = "screen" if kind == "cascade" else "a"
    assert m[f'stratum_pipeline_step_rows_total{{step="{first}"}}'] == len(X) + 7
    assert m[f'stratum_pipeline_step_seconds_count{{step="{first}"}}'] >= 2


def test_a_step_function_ships_as_source_and_runs_in_the_runtime(registry, trio, bundles, serve, rules_on_path):
    """The user's module is found where `import` finds it when the pipeline registers, its source is kept with
    the version and shipped in the bundle (steps/MODULE.py, sha256 in the manifest); the runtime's answers are
    the function applied to the model's answers in Python, with the module gone from the controller."""
    fitted, X = trio
    ref = f"triaged@{_register(registry, 'triaged', FUNCTION).version}"
    assert registry.get(ref).load()["modules"] == {"stratum_test_rules": RULES}
    rules_on_path.unlink()  # the bundle must not need it any more
    argv = ["bundle", ref, "--out", str(bundles / "triaged"), "--force", "--no-tarball"]
    bundle = run_command(parse([*argv, "--home", str(registry.root)]), CommandContext())
    assert (bundle.path / "steps" / "stratum_test_rules.py").read_text() == RULES
    assert "steps/stratum_test_rules.py" in bundle.manifest["files"]
    server = serve(bundle.path)
    status, answer, _ = server.post("/predict", {"records": X.to_dict(orient="records")})
    assert status == 200, answer
    proba = fitted["screen"].predict_proba(X)
    labels = fitted["screen"].predict(X)
    expected = [int(v) if p >= 0.9 else "review" for v, p in zip(labels, proba.max(axis=1))]
    assert answer["predictions"] == expected and 0 < expected.count("review") < len(expected)
