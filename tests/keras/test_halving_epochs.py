"""Halving grows Keras models by epochs: a promoted configuration goes on from its previous rung's
network (kept in the ``.keras`` format with its optimizer, dropout and early-stopping state), and
every rung's scores are those of a Keras fit of that many epochs from scratch on the same fold."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs TensorFlow (.[tensorflow])"),
]


def _data():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


def test_going_on_from_fewer_epochs_is_the_fit_of_all_the_epochs():
    """In process, with dropout and early stopping (which ends it at epoch 12): 4 then 20 epochs is 20."""
    from jupyter_stratum.keras.estimators import KerasMLPClassifier

    X, _, y, _ = _data()
    X = StandardScaler().fit_transform(X)
    params = dict(hidden_layer_sizes=(16,), dropout=0.2, batch_size=32, learning_rate=0.01, patience=3, random_state=1)
    whole = KerasMLPClassifier(epochs=20, **params).fit(X, y)
    grown = KerasMLPClassifier(epochs=4, warm_start=True, **params).fit(X, y)
    assert grown.n_epochs_ == 4
    grown.set_params(epochs=20).fit(X, y)
    assert whole.n_epochs_ == grown.n_epochs_ == 12  # stopped early after it went on
    assert whole.history_ == grown.history_  # every epoch's loss, to the last bit
    np.testing.assert_array_equal(whole.predict_proba(X), grown.predict_proba(X))
    # without warm_start a second fit starts again (scikit-learn's contract)
    again = KerasMLPClassifier(epochs=4, **params).fit(X, y).set_params(epochs=20).fit(X, y)
    np.testing.assert_array_equal(whole.predict_proba(X), again.predict_proba(X))
    # a model early stopping ended goes no further: more epochs give the same model
    grown.set_params(epochs=30).fit(X, y)
    assert grown.n_epochs_ == 12
    np.testing.assert_array_equal(whole.predict_proba(X), grown.predict_proba(X))


SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - keras_mlp: {hidden_layer_sizes: [16], dropout: [0.0, 0.2], learning_rate: loguniform(1e-3, 3e-2),
                epochs: 10, batch_size: 64, early_stopping: false}
search: {strategy: halving, mode: sync, candidates: 4, factor: 2, min_resources: 50, budget: 200, seed: 3}
metric: roc_auc
"""


@pytest.mark.cluster
def test_keras_rungs_grow_by_epochs_and_score_as_a_fit_of_that_many_epochs(client):
    from sklearn.metrics import accuracy_score, roc_auc_score

    from jupyter_stratum.keras.estimators import KerasMLPClassifier
    from jupyter_stratum.training import train

    result = train(SPEC, client=client, register=False)
    plan = result.plan
    assert plan.schedule.resources == (50, 100, 200)
    X_train, _, y_train, _ = _data()
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(X_train, y_train))
    previous = {(e.candidate_id, e.rung): e for e in result.evaluations}
    grown = 0
    for e in result.evaluations:
        c = plan.candidate(e.candidate_id)
        params = plan.params_at(c.id, e.rung)
        # resource auto: a Keras model gets all the rows and its epochs scaled like rows would be
        assert e.resource == c.grows == "epochs" and e.n_resources == params["epochs"] == max(
            1, int(10 * plan.schedule.resources[e.rung] / 200)
        )
        for f in e.folds:
            tr, te = folds[f.fold]
            model = make_pipeline(StandardScaler(), KerasMLPClassifier(**params))
            model.fit(X_train.iloc[tr], y_train.iloc[tr])
            proba = model.predict_proba(X_train.iloc[te])
            # the same arithmetic in the same order (CPU kernels, same batches): equal to the last bit
            # in practice; 1e-9 leaves room for nothing but printing
            np.testing.assert_allclose(
                f.scores["roc_auc"], roc_auc_score(y_train.iloc[te], proba[:, 1]), rtol=0, atol=1e-9, err_msg=f"{e} {f}"
            )
            np.testing.assert_allclose(
                f.scores["accuracy"], accuracy_score(y_train.iloc[te], model.predict(X_train.iloc[te])), atol=1e-9
            )
            assert f.history["loss"] == model[-1].history_["loss"] and len(f.history["loss"]) == e.n_resources
            if f.warm_from is not None:  # went on from the previous rung's network on this fold
                assert e.rung > 0 and f.warm_from == previous[c.id, e.rung - 1].n_resources < e.n_resources
                grown += 1
    assert [len([e for e in result.evaluations if e.rung == r]) for r in range(3)] == [4, 2, 1]
    assert grown > 0  # the promoted networks went on training, they did not start again
