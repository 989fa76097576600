"""scikit-learn's own test of its estimator contract, on the Keras templates.

``parametrize_with_checks`` fits, clones, pickles and scores each estimator the way scikit-learn's
meta-estimators (Pipeline, GridSearchCV, cross_validate) will; small networks and few epochs keep it quick.
"""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow", reason="the Keras templates need TensorFlow (`pip install -e .[tensorflow]`)")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from jupyter_stratum.keras.estimators import KerasMLPClassifier, KerasMLPRegressor  # noqa: E402

pytestmark = pytest.mark.tensorflow

# small and quick, yet trained well enough for the checks' score floors (accuracy > 0.83, R² > 0.5)
SMALL = {"hidden_layer_sizes": (16,), "epochs": 40, "learning_rate": 0.02, "batch_size": 16, "random_state": 0}


@pytest.fixture(autouse=True, scope="module")
def _deterministic_ops():
    """Several checks fit twice with one random_state and compare (pipeline consistency, idempotence);
    TensorFlow's CPU kernels promise the same numbers across runs only with op determinism on."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    yield


@parametrize_with_checks([KerasMLPClassifier(**SMALL), KerasMLPRegressor(**SMALL)])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)
