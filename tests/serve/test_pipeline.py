"""Pipelines in process: a cascade and an ensemble of bundled models answer what composing the
fitted models in Python answers on the same rows (labels exact, probabilities to 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import Fitted, lineage_of, make_bundle, records_of

from jupyter_stratum.serve.errors import PipelineError
from jupyter_stratum.serve.pipeline import PipelineExecutor, parse_pipeline


@pytest.fixture(scope="module")
def three(registry, cancer, logreg, logreg_bundle, bundles):
    """screen: the shared logistic regression; deep: a random forest; fast: a strongly regularised LR."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_stratum.serve import load_bundle

    X_train, X_test, y_train, y_test = cancer
    fitted = {"screen": logreg.model}
    paths = {"screen": logreg_bundle.path}
    for name, model in [
        ("deep", RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1)),
        ("fast", make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))),
    ]:
        model.fit(X_train, y_train)
        mv = registry.register(
            f"cancer-{name}", model, lineage=lineage_of(model, X_train, X_test, "classification", [0, 1])
        )
        paths[name] = make_bundle(registry, Fitted(mv.ref, model, X_test, y_test), bundles / f"cancer-{name}").path
        fitted[name] = model
    served = {name: load_bundle(path, backend="native", threads=0) for name, path in paths.items()}
    return fitted, served, X_test


def _rows(served, X):
    return served["screen"].schema.from_records(records_of(X))


def test_cascade_equals_composing_the_models(three):
    fitted, served, X = three
    spec = parse_pipeline(
        {
            "steps": [
                {"screen": {"model": "screen"}},
                {"route": {"switch": "screen.score > 0.8", "then": "deep", "else": "fast"}},
                {"deep": {"model": "deep"}},
                {"fast": {"model": "fast"}},
                {"label": {"map": {0: "malignant", 1: "benign"}, "of": "route"}},
            ],
            "output": "route",
        },
        list(served),
    )
    batch, n = _rows(served, X)
    out = PipelineExecutor(spec, served).run(batch, n)

    confident = fitted["screen"].predict_proba(X)[:, 1] > 0.8
    assert 0 < confident.sum() < len(X)  # both branches take rows
    labels = np.where(confident, fitted["deep"].predict(X), fitted["fast"].predict(X))
    proba = np.where(confident[:, None], fitted["deep"].predict_proba(X), fitted["fast"].predict_proba(X))
    assert out.labels == labels.tolist()
    assert np.abs(out.proba - proba).max() <= 1e-6

    spec.output = "label"
    named = PipelineExecutor(spec, served).run(batch, n)
    assert named.labels == ["malignant" if v == 0 else "benign" for v in labels]


def test_ensemble_mean_and_vote_equal_composing_the_models(three):
    fitted, served, X = three
    batch, n = _rows(served, X)
    steps = [{"a": {"model": "screen"}}, {"b": {"model": "deep"}}, {"c": {"model": "fast"}}]
    mean = parse_pipeline({"steps": [*steps, {"avg": {"ensemble": ["a", "b"], "method": "mean"}}]}, list(served))
    out = PipelineExecutor(mean, served).run(batch, n)
    expected = (fitted["screen"].predict_proba(X) + fitted["deep"].predict_proba(X)) / 2
    assert np.abs(out.proba - expected).max() <= 1e-6
    assert out.labels == expected.argmax(axis=1).tolist()

    vote = parse_pipeline({"steps": [*steps, {"v": {"ensemble": ["a", "b", "c"], "method": "vote"}}]}, list(served))
    got = PipelineExecutor(vote, served).run(batch, n).labels
    preds = np.stack([fitted[k].predict(X) for k in ("screen", "deep", "fast")])
    assert got == (preds.sum(axis=0) >= 2).astype(int).tolist()


@pytest.mark.parametrize(
    "steps, words",
    [
        ([{"a": {"model": "nope"}}], "steps[0] (a).model: unknown model 'nope'"),
        ([{"a": {"model": "m"}}, {"b": {"map": {0: 1}, "of": "c"}}, {"c": {"model": "m"}}], "(a later step"),
        ([{"a": {"model": "m"}}, {"r": {"switch": "a.score >> 1", "then": "a", "else": "a"}}], "is not a condition"),
        ([{"a": {"model": "m"}}, {"r": {"switch": "a.score > 0.5", "then": "x", "else": "a"}}], "steps[1] (r).then"),
        ([{"a": {"frobnicate": 1}}], "unknown step kind"),
        (
            [{"p": {"columns": ["x"]}}, {"a": {"model": "m", "input": "p"}}, {"t": {"map": {0: 1}, "of": "p"}}],
            "gives rows",
        ),
        ([{"a": {"model": "m"}}, {"b": {"model": "m", "input": "a"}}], "steps[1] (b).input: 'a' is a model step"),
        ([{"p": {"columns": ["x", "y"], "rename": {"x": "y"}}}], "two columns would have the same name"),
        ([{"a": {"model": "m"}}, {"p": {"columns": ["x"]}}], "output: 'p' gives rows, not answers"),
        ([{"a": {"model": "m"}}, {"a": {"model": "m"}}], "steps[1] (a): the name is used"),
    ],
)
def test_spec_errors_name_the_step_and_field(steps, words):
    with pytest.raises(PipelineError) as info:
        parse_pipeline({"steps": steps}, ["m"])
    assert words in str(info.value)


def test_a_step_function_that_breaks_its_contract_is_named(three):
    from jupyter_stratum.serve.pipeline import load_step_functions

    fitted, served, X = three
    source = (
        "def short(labels, proba, classes):\n    return labels[:1]\n\ndef boom(labels, proba, classes):\n    1 / 0\n"
    )
    functions = load_step_functions({"rules": source}, ["rules:short", "rules:boom"])
    batch, n = _rows(served, X)
    for fn, words in (("rules:short", f"returned 1 labels for {n} rows"), ("rules:boom", "raised ZeroDivisionError")):
        spec = parse_pipeline({"steps": [{"a": {"model": "screen"}}, {"f": {"function": fn}}]}, list(served))
        with pytest.raises(PipelineError, match=words):
            PipelineExecutor(spec, served, functions=functions).run(batch, n)
    spec = parse_pipeline({"steps": [{"a": {"model": "screen"}}, {"f": {"function": "rules:short"}}]}, list(served))
    with pytest.raises(PipelineError, match="no code for the step functions"):
        PipelineExecutor(spec, served)
    with pytest.raises(PipelineError, match="has no function 'nope'"):
        load_step_functions({"rules": source}, ["rules:nope"])
