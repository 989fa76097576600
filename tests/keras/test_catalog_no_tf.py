"""The Keras templates are in the catalog with JSON Schemas, and nothing up to the plan imports TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from jupyter_stratum.catalog import catalog_json, resolve
from jupyter_stratum.errors import SpecError
from jupyter_stratum.spec import parse_spec


def test_templates_resolve_by_stem_and_task():
    assert resolve("keras_mlp", task="classification").class_name == "KerasMLPClassifier"
    assert resolve("keras_mlp", task="regression").class_name == "KerasMLPRegressor"
    assert resolve("keras_cnn", task="classification").class_name == "KerasCNNClassifier"
    assert resolve("KerasCNNRegressor").name == "keras_cnn_regressor"
    entries = {e["name"]: e for e in catalog_json()["algorithms"] if e["source"] == "keras"}
    assert set(entries) == {
        "keras_mlp_classifier",
        "keras_mlp_regressor",
        "keras_cnn_classifier",
        "keras_cnn_regressor",
    }
    mlp = entries["keras_mlp_classifier"]["schema"]
    assert mlp["$schema"].startswith("https://json-schema.org/") and mlp["additionalProperties"] is False
    for p in (
        "hidden_layer_sizes",
        "activation",
        "dropout",
        "epochs",
        "batch_size",
        "learning_rate",
        "early_stopping",
        "random_state",
    ):
        assert "default" in mlp["properties"][p] and mlp["properties"][p]["description"]
    cnn = entries["keras_cnn_classifier"]["schema"]["properties"]
    assert {"image_shape", "filters", "kernel_size", "dense_units"} <= set(cnn)


def test_schema_defaults_equal_the_estimators_defaults():
    for name in ("keras_mlp_classifier", "keras_cnn_regressor"):
        algo = resolve(name)
        params = algo.factory().get_params()
        for key, prop in algo.schema["properties"].items():
            value = params[key]
            assert (list(value) if isinstance(value, tuple) else value) == prop["default"], (name, key)


def test_spec_errors_name_line_and_field():
    with pytest.raises(SpecError) as err:
        parse_spec("data: sklearn:digits\nmodels:\n  - keras_mlp: {epochs: 0, dropuot: 0.1}\n")
    text = str(err.value)
    assert "line 3" in text and "epochs must be an int >= 1, got 0" in text
    assert "has no parameter 'dropuot'. Did you mean 'dropout'?" in text
    with pytest.raises(SpecError, match="image_shape must be"):
        parse_spec("data: sklearn:digits\nmodels:\n  - keras_cnn: {image_shape: [8, 8, 1, 1]}\n")


def test_list_of_lists_is_a_search_space():
    from jupyter_stratum.training import prepare

    _, _, plan = prepare(
        "data: sklearn:digits\nmodels:\n  - keras_mlp: {hidden_layer_sizes: [[32], [64, 32]]}\n"
        "  - keras_mlp: {hidden_layer_sizes: [16, 16]}\n"
    )
    assert [c.params["hidden_layer_sizes"] for c in plan.candidates] == [(32,), (64, 32), (16, 16)]
    assert all(c.params["random_state"] == 0 for c in plan.candidates)  # seeded from split.seed


def test_import_load_ext_catalog_plan_and_dry_run_never_import_tensorflow():
    code = textwrap.dedent("""
        import sys
        import jupyter_stratum
        from IPython.testing.globalipapp import start_ipython
        ip = start_ipython()
        ip.run_line_magic("load_ext", "jupyter_stratum")
        from jupyter_stratum.catalog import catalog_json
        assert any(e["name"] == "keras_cnn_classifier" for e in catalog_json()["algorithms"])
        from jupyter_stratum.training import dry_run
        plan = dry_run("data: sklearn:digits\\nmodels: [keras_mlp, keras_cnn, logistic_regression]\\n")
        assert "train on CPU workers" in plan.to_text(), plan.to_text()
        ip.run_cell_magic("stratum", "train digits --dry-run", "data: sklearn:digits\\nmodels: [keras_cnn]\\n")
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print("IMPORTED", bad)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "IMPORTED []" in out.stdout, out.stdout[-2000:]
