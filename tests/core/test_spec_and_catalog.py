"""The spec round-trips and reports errors by line; the catalog derives schemas from sklearn's constraints."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_stratum.catalog import catalog, catalog_json, resolve
from jupyter_stratum.errors import SpecError
from jupyter_stratum.spec import PipelineSpec, parse_spec, validate_text

FULL = """\
data: sklearn:breast_cancer
target: target
task: classification
split: {test_size: 0.25, cv: 3, seed: 7}
preprocess:
  - standard_scaler
  - pca: {n_components: 5}
models:
  - logistic_regression: {C: [0.1, 1, 10]}
  - random_forest: {n_estimators: 200, max_depth: [3, null]}
  - gradient_boosting
  - svc: {probability: true}
  - mlp: {hidden_layer_sizes: [[16], [16, 8]]}
  - algorithm: k_neighbors
    params: {n_neighbors: 5}
    resources: {GPU: 1}
    label: knn-gpu
metric: roc_auc
metrics: [accuracy, f1]
"""


def test_full_spec_round_trips():
    spec = parse_spec(FULL)
    again = parse_spec(spec.to_yaml())
    assert again == spec
    assert again.to_yaml() == spec.to_yaml()
    assert spec.models[3].params == {"probability": True}
    assert spec.models[5].resources == {"GPU": 1.0} and spec.models[5].label == "knn-gpu"


NAMES = st.sampled_from(["logistic_regression", "random_forest", "svc", "gradient_boosting", "k_neighbors"])


@settings(max_examples=40, deadline=None)
@given(
    models=st.lists(NAMES, min_size=1, max_size=4),
    cv=st.integers(2, 10),
    test_size=st.floats(0.05, 0.5),
    seed=st.integers(0, 1000),
    metric=st.sampled_from([None, "accuracy", "roc_auc", "f1"]),
)
def test_round_trip_property(models, cv, test_size, seed, metric):
    spec = PipelineSpec(
        data="df",
        target="y",
        split={"cv": cv, "test_size": test_size, "seed": seed},
        models=[{"algorithm": m} for m in models],
        metric=metric,
    )
    assert parse_spec(spec.to_yaml()) == spec


def test_errors_name_line_and_field():
    text = textwrap.dedent("""\
        data: df
        target: y
        models:
          - logistic_regression: {C: abc}
          - random_forest: {n_estimators: 10}
          - svc: {kernel: cubic}
        """)
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    issues = {tuple(i.path): i for i in info.value.errors}
    assert issues[("models", 0, "params", "C")].line == 4
    assert issues[("models", 2, "params", "kernel")].line == 6
    assert "kernel must be a str among" in issues[("models", 2, "params", "kernel")].message
    report = validate_text(text)
    assert not report["ok"] and {e["line"] for e in report["errors"]} == {4, 6}


def test_validate_text_normalises():
    report = validate_text("data: df\ntarget: y\nmodels: [svc]\n")
    assert report["ok"] and report["errors"] == []
    assert parse_spec(report["yaml"]) == parse_spec("data: df\ntarget: y\nmodels: [svc]\n")


def test_search_space_vs_list_parameter():
    from jupyter_stratum.training.plan import make_candidates

    spec = parse_spec(
        "data: df\nmodels:\n  - mlp: {hidden_layer_sizes: [16, 8]}\n  - mlp: {hidden_layer_sizes: [[4], [8]]}\n"
    )
    ids = [c.id for c in make_candidates(spec, "classification")]
    assert ids == ["mlp", "mlp(hidden_layer_sizes=[4])", "mlp(hidden_layer_sizes=[8])"]
    # a parameter that takes a scalar or an array (Ridge's alpha) searches over a flat list
    ridge = parse_spec("data: df\nmodels:\n  - ridge: {alpha: [0.1, 10]}\n")
    assert [c.params["alpha"] for c in make_candidates(ridge, "regression")] == [0.1, 10]


def test_catalog_has_every_sklearn_estimator_kind():
    from sklearn.base import ClusterMixin
    from sklearn.utils import all_estimators

    names = {a.class_name for a in catalog()}
    for kind in ("classifier", "regressor", "transformer"):
        for class_name, cls in all_estimators(type_filter=kind):
            import inspect

            required = [
                p
                for n, p in inspect.signature(cls.__init__).parameters.items()
                if n != "self"
                and p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ]
            if required:
                continue
            if kind == "transformer" and (
                not hasattr(cls, "transform")  # TSNE: fit_transform only, nothing for new rows
                or class_name in ("LabelEncoder", "LabelBinarizer", "MultiLabelBinarizer")  # they encode y
                or issubclass(cls, ClusterMixin)  # KMeans & co. are clusterers
            ):
                assert class_name not in names, f"{class_name} is no preprocessing step"
                continue
            assert class_name in names, class_name


def test_names_resolve_by_task():
    assert resolve("random_forest", task="classification").class_name == "RandomForestClassifier"
    assert resolve("random_forest", task="regression").class_name == "RandomForestRegressor"
    assert resolve("RandomForestRegressor").class_name == "RandomForestRegressor"
    assert resolve("svc").class_name == "SVC"
    assert resolve("knn", task="regression").class_name == "KNeighborsRegressor"


def test_schema_derived_from_parameter_constraints():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    lr = resolve("logistic_regression").schema["properties"]
    assert lr["C"]["type"] == "number" and lr["C"]["exclusiveMinimum"] == 0
    assert lr["C"]["default"] == LogisticRegression().C
    assert set(lr["solver"]["enum"]) == set(LogisticRegression._parameter_constraints["solver"][0].options)
    rf = resolve("random_forest").schema["properties"]
    assert rf["n_estimators"] == {
        **rf["n_estimators"],
        "type": "integer",
        "minimum": 1,
        "default": RandomForestClassifier().n_estimators,
    }
    assert {"type": "null"} in rf["max_depth"]["anyOf"]
    assert rf["bootstrap"]["type"] == "boolean"
    import json

    json.dumps(catalog_json())  # every schema is JSON


def test_params_validated_before_any_work():
    with pytest.raises(SpecError, match="C must be a float in the range"):
        parse_spec("data: df\nmodels:\n  - logistic_regression: {C: '1'}\n")


def test_third_party_algorithm_through_entry_point(tmp_path):
    """A package declaring the entry point group jupyter_stratum.algorithms shows up in the catalog."""
    pkg = tmp_path / "site"
    (pkg / "acme_algos").mkdir(parents=True)
    (pkg / "acme_algos" / "__init__.py").write_text(
        textwrap.dedent("""\
        from sklearn.base import BaseEstimator, ClassifierMixin
        import numpy as np

        class MajorityClassifier(ClassifierMixin, BaseEstimator):
            '''Predicts the most frequent class.'''
            _parameter_constraints = {"strength": ["boolean"]}
            def __init__(self, strength=True):
                self.strength = strength
            def fit(self, X, y):
                self.classes_, counts = np.unique(y, return_counts=True)
                self.majority_ = self.classes_[counts.argmax()]
                return self
            def predict(self, X):
                return np.full(len(X), self.majority_)
        """)
    )
    dist = pkg / "acme_algos-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-algos\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[jupyter_stratum.algorithms]\nmajority = acme_algos:MajorityClassifier\n")
    code = textwrap.dedent("""\
        import json
        from jupyter_stratum.catalog import resolve
        from jupyter_stratum.spec import parse_spec
        a = resolve("majority", task="classification")
        print(json.dumps({"source": a.source, "kind": a.kind, "schema": a.schema["properties"]["strength"]}))
        try:
            parse_spec("data: df\\nmodels:\\n  - majority: {strength: 3}\\n")
        except Exception as e:
            print(e)
        """)
    env = {"PYTHONPATH": str(pkg), "PATH": "/usr/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    first, rest = out.stdout.split("\n", 1)
    import json

    info = json.loads(first)
    assert info == {"source": "acme-algos", "kind": "classifier", "schema": {"type": "boolean", "default": True}}
    assert "strength must be an instance of 'bool'" in rest, rest


def test_preprocessing_offers_only_feature_transformers():
    from jupyter_stratum.catalog import catalog_json

    names = {a["name"] for a in catalog_json("transformer")["algorithms"]}
    assert {"standard_scaler", "pca", "one_hot_encoder"} <= names
    # no transform for new rows (TSNE), a target's encoder, a clusterer: none can be a pipeline step
    assert not names & {"tsne", "label_encoder", "label_binarizer", "k_means", "mini_batch_k_means"}
    for step in ("tsne", "label_encoder", "k_means"):
        answer = validate_text(f"data: sklearn:iris\npreprocess: [{step}]\nmodels: [logistic_regression]\n")
        assert not answer["ok"] and answer["errors"][0]["path"] == ["preprocess", 0, "name"], answer


def test_a_bundled_data_set_fixes_the_task_before_anything_loads():
    # the sidebar validates without data: a regressor on iris is refused there, not at training
    answer = validate_text("data: sklearn:iris\nmodels: [random_forest_regressor]\n")
    assert not answer["ok"] and answer["errors"][0]["path"] == ["models", 0, "algorithm"], answer
    assert "regressor" in answer["errors"][0]["message"]
    assert validate_text("data: sklearn:iris\nmodels: [ridge]\n")["ok"]  # ridge means ridge_classifier here
    assert not validate_text("data: sklearn:diabetes\nmodels: [logistic_regression]\n")["ok"]
    assert validate_text("data: df\nmodels: [random_forest_regressor]\n")["ok"]  # unknown task: decided at training
