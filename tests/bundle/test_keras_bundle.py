"""Keras models bundled and served: a real runtime process on loopback answers like the
notebook's ``predict`` / ``predict_proba``.

The pipelines are built as training builds them (``jupyter_stratum.pipeline.build_estimator``:
catalog preprocessing + ``keras_mlp``), fitted here on scikit-learn's data with few epochs and
one TensorFlow thread, registered with the ``keras`` flavor and bundled with the real builder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from _helpers import REPO, Fitted, lineage_of, make_bundle, records_of, serve_cmd

pytestmark = [
    pytest.mark.slow,
    pytest.mark.tensorflow,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorflow") is None,
        reason="TensorFlow is not installed, so Keras models cannot be trained or served (pip install -e '.[tensorflow]')",
    ),
]

TIGHT = 1e-6  # same rows, same float32 network: the server's numbers equal the notebook's to float32 rounding


@pytest.fixture(autouse=True, scope="module")
def _one_tf_thread_and_flavors_restored():
    """One TensorFlow thread in this process (2 shared cores); fitting a Keras estimator registers
    the ``keras`` flavor in this process, so the flavor table is put back for other modules."""
    from jupyter_stratum.registry import flavors

    saved = dict(flavors._FLAVORS)
    mp = pytest.MonkeyPatch()
    mp.setenv("STRATUM_TF_THREADS", "1")
    yield
    mp.undo()
    flavors._FLAVORS.clear()
    flavors._FLAVORS.update(saved)


def _fit_and_register(registry, name, X_train, X_test, y_train, y_test, task, params, preprocess, classes=None):
    from jupyter_stratum.training.estimator import FeatureTypes, build_estimator

    model = build_estimator(
        "keras_mlp",
        {"epochs": 5, "batch_size": 64, "learning_rate": 0.01, "random_state": 0, **params},
        preprocess,
        FeatureTypes.of(X_train),
        task=task,
    ).fit(X_train, y_train)
    mv = registry.register(name, model, flavor="keras", lineage=lineage_of(model, X_train, X_test, task, classes))
    return Fitted(mv.ref, model, X_test, y_test)


@pytest.fixture(scope="module")
def keras_digits(registry):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    return _fit_and_register(
        registry,
        "digits-mlp",
        X_train,
        X_test,
        y_train,
        y_test,
        "classification",
        {"hidden_layer_sizes": [32]},
        [("standard_scaler", {})],
        list(range(10)),
    )


@pytest.fixture(scope="module")
def keras_diabetes(registry):
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    return _fit_and_register(
        registry,
        "diabetes-mlp",
        X_train,
        X_test,
        y_train,
        y_test,
        "regression",
        {"hidden_layer_sizes": [16], "epochs": 20, "batch_size": 32},
        [("standard_scaler", {})],
    )


@pytest.fixture(scope="module")
def keras_churn(registry, mixed):
    """String, integer and float columns (one-hot encoded, sparse) and string labels."""
    X_train, X_test, y_train, y_test = mixed
    return _fit_and_register(
        registry,
        "churn-mlp",
        X_train,
        X_test,
        y_train,
        y_test,
        "classification",
        {"hidden_layer_sizes": [16]},
        [("standard_scaler", {})],
        ["churn", "stay"],
    )


@pytest.fixture(scope="module")
def digits_bundle(registry, keras_digits, bundles):
    return make_bundle(registry, keras_digits, bundles / "digits-mlp-1")


@pytest.fixture(scope="module")
def diabetes_mlp_bundle(registry, keras_diabetes, bundles):
    return make_bundle(registry, keras_diabetes, bundles / "diabetes-mlp-1")


def test_bundle_carries_network_preprocessing_and_pinned_tensorflow(digits_bundle, keras_digits, registry):
    import zipfile

    from jupyter_stratum.serve.manifest import sha256_file

    b, m = digits_bundle, digits_bundle.manifest
    assert (m["flavor"], m["task"], m["classes"]) == ("keras", "classification", list(range(10)))
    model = m["model"]
    assert (model["format"], model["path"], model["n_features"]) == ("keras", "model/model.keras", 64)
    # the network is byte for byte the one in the registry's archive
    mv = registry.get(keras_digits.ref)
    with zipfile.ZipFile(mv.artifact_path) as zf:
        assert (b.path / "model" / "model.keras").read_bytes() == zf.read("model.keras")
    assert model["sha256"] == sha256_file(b.path / "model" / "model.keras") == m["files"]["model/model.keras"]
    assert m["source"]["sha256"] == mv.sha256
    # the preprocessing alone, in skops, with scikit-learn types only (the edge has no jupyter_stratum)
    assert model["preprocess"]["path"] == "model/preprocess.skops"
    assert not any(t.startswith("jupyter_stratum") for t in model["preprocess"]["trusted_types"])
    assert not (b.path / "model" / "model.skops").exists()
    # checked against the in-process model on holdout + synthetic rows
    assert model["check"]["rows"] >= 200 and model["check"]["max_abs_diff"] <= model["check"]["tolerance"]
    # the sample's expected outputs, probabilities and the start-up tolerance
    sample = m["sample"]
    assert sample["source"] == "holdout" and sample["tolerance"] == 1e-5
    import pandas as pd

    frame = pd.DataFrame(sample["records"])[list(keras_digits.X_test.columns)]
    assert sample["expected"] == keras_digits.model.predict(frame).tolist()
    np.testing.assert_allclose(sample["probabilities"], keras_digits.model.predict_proba(frame), rtol=0, atol=TIGHT)
    # TensorFlow pinned to the training version (CPU build on x86_64), and no ONNX for Keras
    import tensorflow as tf

    assert f'tensorflow-cpu=={tf.__version__}; platform_machine == "x86_64"' in m["requirements"]
    assert any(r.startswith("keras==") for r in m["requirements"])
    reqs = (b.path / "requirements.txt").read_text()
    assert all(r in reqs for r in m["requirements"])
    assert m["onnx"]["available"] is False and "Keras" in m["onnx"]["reason"]
    assert "tflite:" in repr(b) and "keras" in (b.path / "README.md").read_text().lower()


def test_keras_classifier_serves_like_predict_and_predict_proba(serve, digits_bundle, keras_digits):
    server = serve(digits_bundle.path)
    X, model = keras_digits.X_test, keras_digits.model
    status, body, _ = server.post("/predict", {"records": records_of(X)})
    assert status == 200, body
    assert body["classes"] == list(range(10))
    assert body["predictions"] == model.predict(X).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(X), rtol=0, atol=TIGHT)
    # one row at a time (other batch shapes through the network)
    for i in range(3):
        status, body, _ = server.post("/predict", {"records": records_of(X.iloc[[i]])})
        assert status == 200 and body["predictions"] == model.predict(X.iloc[[i]]).tolist()
        np.testing.assert_allclose(body["probabilities"], model.predict_proba(X.iloc[[i]]), rtol=0, atol=TIGHT)
    # OIP v2: metadata and one [N, 64] tensor
    status, meta, _ = server.get("/v2/models/digits-mlp")
    assert status == 200 and meta["platform"] == "tensorflow_keras"
    assert meta["outputs"][1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 10]}
    rows = X.iloc[:7]
    infer = {"inputs": [{"name": "input", "shape": [7, 64], "datatype": "FP64", "data": rows.to_numpy().tolist()}]}
    status, body, _ = server.post("/v2/models/digits-mlp/infer", infer)
    assert status == 200, body
    out = {o["name"]: o for o in body["outputs"]}
    assert out["predict"]["data"] == model.predict(rows).tolist()
    np.testing.assert_allclose(
        np.reshape(out["predict_proba"]["data"], (7, 10)), model.predict_proba(rows), rtol=0, atol=TIGHT
    )
    assert server.metrics()['stratum_model_info{model="digits-mlp",version="1",backend="native"}'] == 1


def test_keras_regressor_serves_like_predict(serve, diabetes_mlp_bundle, keras_diabetes):
    m = diabetes_mlp_bundle.manifest
    assert m["task"] == "regression" and m["classes"] is None
    assert {"y_mean", "y_scale"} <= set(m["model"])
    server = serve(diabetes_mlp_bundle.path)
    X, model = keras_diabetes.X_test, keras_diabetes.model
    status, body, _ = server.post("/predict", {"records": records_of(X)})
    assert status == 200, body
    assert set(body) == {"predictions", "id"}  # the id: for labels sent back to /feedback
    expected = model.predict(X)
    np.testing.assert_allclose(body["predictions"], expected, rtol=TIGHT, atol=TIGHT * np.abs(expected).max())
    status, body, _ = server.post("/predict", {"records": records_of(X.iloc[[3]])})
    np.testing.assert_allclose(body["predictions"], model.predict(X.iloc[[3]]), rtol=TIGHT)


def test_string_columns_one_hot_and_string_labels(serve, registry, keras_churn, bundles):
    bundle = make_bundle(registry, keras_churn, bundles / "churn-mlp-1")
    assert bundle.manifest["classes"] == ["churn", "stay"]
    # only the column the pipeline imputes may be null; the network takes no NaN
    assert [c["name"] for c in bundle.manifest["input_schema"]["columns"] if c.get("nullable")] == ["plan"]
    server = serve(bundle.path)
    X, model = keras_churn.X_test, keras_churn.model
    status, body, _ = server.post("/predict", {"records": records_of(X)})
    assert status == 200, body
    assert body["predictions"] == model.predict(X).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(X), rtol=0, atol=TIGHT)
    # an unseen category is ignored by the one-hot encoder, as in the notebook
    row = records_of(X.iloc[:1])
    row[0]["plan"] = "platinum"
    status, body, _ = server.post("/predict", {"records": row})
    assert status == 200, body
    frame = X.iloc[:1].copy()
    frame["plan"] = "platinum"
    assert body["predictions"] == model.predict(frame).tolist()
    # a null category is imputed as in the notebook; a null number is refused, naming the field
    row[0]["plan"] = None
    status, body, _ = server.post("/predict", {"records": row})
    assert status == 200, body
    frame["plan"] = None
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(frame), rtol=0, atol=TIGHT)
    row[0]["age"] = None
    status, body, _ = server.post("/predict", {"records": row})
    assert status == 400 and "records[0].age" in body["error"]


def test_tflite_copy_matches_within_its_stated_tolerance(serve, digits_bundle, keras_digits):
    tflite = digits_bundle.manifest["tflite"]
    assert tflite["available"] is True, tflite["reason"]
    assert tflite["rows_checked"] >= 200 and tflite["max_abs_diff"] <= tflite["tolerance"] == 1e-5
    assert tflite["bytes"] < (digits_bundle.path / "model" / "model.keras").stat().st_size
    server = serve(digits_bundle.path, "--backend", "tflite")
    X, model = keras_digits.X_test, keras_digits.model
    status, body, _ = server.post("/predict", {"records": records_of(X)})
    assert status == 200, body
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(X), rtol=0, atol=tflite["tolerance"])
    assert body["predictions"] == model.predict(X).tolist()
    assert server.get("/v2/models/digits-mlp")[1]["platform"] == "tensorflow_tflite"


def test_wrong_feature_count_is_a_400_naming_it_and_the_server_goes_on(serve, digits_bundle, keras_digits):
    server = serve(digits_bundle.path)
    X = keras_digits.X_test
    short = records_of(X.iloc[:2])
    del short[1]["pixel_3_4"]
    status, body, _ = server.post("/predict", {"records": short})
    assert status == 400 and "records[1]" in body["error"] and "pixel_3_4" in body["error"]
    narrow = {
        "inputs": [{"name": "input", "shape": [2, 63], "datatype": "FP64", "data": X.iloc[:2, :63].to_numpy().tolist()}]
    }
    status, body, _ = server.post("/v2/models/digits-mlp/infer", narrow)
    assert status == 400 and "63" in body["error"] and "64" in body["error"], body
    assert server.proc.poll() is None
    status, body, _ = server.post("/predict", {"records": records_of(X.iloc[:2])})
    assert status == 200 and body["predictions"] == keras_digits.model.predict(X.iloc[:2]).tolist()


def test_start_up_check_uses_the_manifest_tolerance(digits_bundle, tmp_path):
    from jupyter_stratum.serve.errors import BundleLoadError
    from jupyter_stratum.serve.model_loader import load_bundle

    copy = tmp_path / "digits"
    shutil.copytree(digits_bundle.path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    proba = np.asarray(manifest["sample"]["probabilities"])
    manifest["sample"]["probabilities"] = (proba + 0.5e-5).tolist()  # within 1e-5: starts
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert load_bundle(copy, threads=0).backend == "native"
    manifest["sample"]["probabilities"] = (proba + 1e-3).tolist()  # beyond: refuses, in a real process
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleLoadError, match="differ by up to 0.001"):
        load_bundle(copy, threads=0)
    proc = subprocess.run(serve_cmd(copy), capture_output=True, text=True, cwd=REPO, timeout=180)
    assert proc.returncode == 2
    assert "probabilities differ by up to 0.001 (limit 1e-05)" in proc.stderr


def test_backend_choice_errors_say_what_to_use(digits_bundle, logreg_bundle):
    proc = subprocess.run(
        serve_cmd(digits_bundle.path, "--backend", "onnx"), capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 2 and "Keras bundle has no ONNX copy" in proc.stderr and "--backend native" in proc.stderr
    proc = subprocess.run(
        serve_cmd(logreg_bundle.path, "--backend", "tflite"), capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 2 and "TFLite copy exists only in Keras bundles" in proc.stderr


def test_sklearn_bundles_never_import_tensorflow(logreg_bundle, digits_bundle):
    code = (
        "import sys; sys.modules['jupyter_stratum'] = None; from stratum_serve import load_bundle; "
        "m = load_bundle(sys.argv[1]); print(m.platform, 'tensorflow' in sys.modules)"
    )
    for bundle, expected in ((logreg_bundle, "onnxruntime_onnx False"), (digits_bundle, "tensorflow_keras True")):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(bundle.path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(bundle.path / "runtime")},
            cwd=bundle.path,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip().splitlines()[-1] == expected
