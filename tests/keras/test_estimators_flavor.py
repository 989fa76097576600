"""Keras estimators behave like scikit-learn ones; the registry's keras flavor round-trips a Pipeline.

TensorFlow runs in this process here (small nets, few epochs); the cluster tests run it on workers.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from jupyter_stratum.errors import RegistryError

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorflow") is None,
        reason="TensorFlow is not installed (pip install -e '.[tensorflow]')",
    ),
]

SMALL = {"hidden_layer_sizes": (32,), "epochs": 5, "batch_size": 64, "learning_rate": 0.01, "random_state": 0}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    return X[:900], names[y[:900]], X[900:1200], names[y[900:1200]]


@pytest.fixture(scope="module")
def fitted(digits):
    from jupyter_stratum.keras.estimators import KerasMLPClassifier

    X, y, _, _ = digits
    return make_pipeline(StandardScaler(), KerasMLPClassifier(**SMALL)).fit(X, y)


def test_sklearn_api_labels_proba_history(digits, fitted):
    from jupyter_stratum.keras.estimators import KerasMLPClassifier

    _, _, X_te, y_te = digits
    est = fitted[-1]
    assert list(est.classes_) == sorted(set(y_te))  # string labels, sorted like scikit-learn's
    proba = fitted.predict_proba(X_te)
    assert proba.shape == (len(X_te), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = fitted.predict(X_te)
    np.testing.assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    assert fitted.score(X_te, y_te) == accuracy_score(y_te, pred)
    assert accuracy_score(y_te, pred) > 0.8
    assert set(est.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert est.n_epochs_ == len(est.history_["loss"]) <= 5 and 1 <= est.best_epoch_ <= est.n_epochs_
    assert est.device_ == "CPU"
    params = clone(est).get_params()
    assert params == KerasMLPClassifier(**SMALL).get_params() and not hasattr(clone(est), "classes_")


def test_same_seed_same_model_other_seed_other_model(digits, fitted):
    from jupyter_stratum.keras.estimators import KerasMLPClassifier

    X, y, X_te, _ = digits
    again = make_pipeline(StandardScaler(), KerasMLPClassifier(**SMALL)).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X_te), fitted.predict_proba(X_te))
    other = make_pipeline(StandardScaler(), KerasMLPClassifier(**{**SMALL, "random_state": 1})).fit(X, y)
    assert not np.array_equal(other.predict_proba(X_te), fitted.predict_proba(X_te))


def test_pickle_carries_the_keras_file_and_unpickling_does_not_import_tf(digits, fitted, tmp_path):
    _, _, X_te, _ = digits
    blob = pickle.dumps(fitted)
    np.testing.assert_array_equal(pickle.loads(blob).predict_proba(X_te), fitted.predict_proba(X_te))
    (tmp_path / "m.pkl").write_bytes(blob)
    np.save(tmp_path / "x.npy", X_te)
    code = textwrap.dedent(f"""
        import pickle, sys, numpy as np
        m = pickle.loads(open({str(tmp_path / "m.pkl")!r}, 'rb').read())
        print("BEFORE", "tensorflow" in sys.modules, m[-1].n_epochs_)
        np.save({str(tmp_path / "p.npy")!r}, m.predict_proba(np.load({str(tmp_path / "x.npy")!r})))
        print("AFTER", "tensorflow" in sys.modules)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"BEFORE False {fitted[-1].n_epochs_}" in out.stdout and "AFTER True" in out.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), fitted.predict_proba(X_te))


def test_cnn_needs_an_image_shape_that_fits_and_learns_digits(digits):
    from jupyter_stratum.keras.estimators import KerasCNNClassifier

    X, y, X_te, y_te = digits
    with pytest.raises(ValueError, match="needs image rows: the data has no image shape"):
        KerasCNNClassifier().fit(X, y)
    with pytest.raises(ValueError, match=r"image_shape \[7, 7\] holds 49 values per image, but the rows have 64"):
        KerasCNNClassifier(image_shape=(7, 7)).fit(X, y)
    cnn = KerasCNNClassifier(
        image_shape=(8, 8), filters=(8, 16), dense_units=32, epochs=8, batch_size=64, learning_rate=0.01, random_state=0
    ).fit(X / 16, y)
    assert cnn.model_.get_layer("image").output.shape[1:] == (8, 8, 1)
    assert accuracy_score(y_te, cnn.predict(X_te / 16)) > 0.6


def test_regressor_standardises_the_target():
    from jupyter_stratum.keras.estimators import KerasMLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    y = 1000 + 300 * X @ np.array([1.0, -2.0, 0.5, 0.0, 1.5])
    reg = KerasMLPRegressor(hidden_layer_sizes=(16,), epochs=40, batch_size=32, random_state=0).fit(X[:500], y[:500])
    assert r2_score(y[500:], reg.predict(X[500:])) > 0.9
    assert reg.score(X[500:], y[500:]) == pytest.approx(r2_score(y[500:], reg.predict(X[500:])))


def test_registry_round_trip_with_sha256_checks(digits, fitted, registry_with_keras):
    reg = registry_with_keras
    _, _, X_te, _ = digits
    mv = reg.register("digits-mlp", fitted, lineage={"task": "classification"}, flavor="keras")
    assert mv.artifact.endswith(".keras-pipeline.zip") and mv.algorithm == "KerasMLPClassifier"
    with zipfile.ZipFile(mv.artifact_path) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "model.keras", "pipeline.skops"]
        manifest = json.loads(zf.read("manifest.json"))
        assert zipfile.is_zipfile(__import__("io").BytesIO(zf.read("model.keras")))  # a real .keras archive
    assert manifest["format"] == "jupyter-stratum/keras-pipeline" and set(manifest["sha256"]) == {
        "model.keras",
        "pipeline.skops",
    }
    loaded = reg.load("digits-mlp")
    np.testing.assert_array_equal(loaded.predict_proba(X_te), fitted.predict_proba(X_te))
    assert loaded[-1].history_ == fitted[-1].history_

    # a changed byte anywhere: the registry's sha256 refuses the file
    data = bytearray(mv.artifact_path.read_bytes())
    data[-40] ^= 1
    mv.artifact_path.write_bytes(bytes(data))
    with pytest.raises(RegistryError, match="was modified"):
        reg.load("digits-mlp")


def test_member_checksums_and_trust_rules(digits, fitted, registry_with_keras, tmp_path):
    from jupyter_stratum.keras import flavor
    from jupyter_stratum.keras.estimators import KerasMLPClassifier

    # a swapped network inside an archive whose own sha256 would be recomputed: the manifest refuses it
    good = tmp_path / "good.keras-pipeline.zip"
    flavor.save(fitted, good)
    bad = tmp_path / "bad.keras-pipeline.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[:-1] + bytes([data[-1] ^ 1]) if name == "model.keras" else data)
    with pytest.raises(RegistryError, match="model.keras inside .* does not match its sha256"):
        flavor.load(bad)

    # a function defined here (not importable by the registry's trust rules) is refused at register time
    X, y, _, _ = digits
    custom = make_pipeline(FunctionTransformer(_double), KerasMLPClassifier(**{**SMALL, "epochs": 1})).fit(X, y)
    with pytest.raises(RegistryError, match="types the registry will not load"):
        registry_with_keras.register("custom", custom, lineage={}, flavor="keras")
    assert registry_with_keras.names() == []


def _double(X):
    return X * 2


@pytest.fixture
def registry_with_keras(stratum_home):
    from jupyter_stratum.keras import flavor
    from jupyter_stratum.registry import open_registry

    flavor.register()
    return open_registry(stratum_home)
