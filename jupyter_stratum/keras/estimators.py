"""Keras models with the scikit-learn estimator API.

``KerasMLPClassifier`` / ``KerasMLPRegressor`` (dense layers) and
``KerasCNNClassifier`` / ``KerasCNNRegressor`` (a small convolutional net for
rows that are images, e.g. ``sklearn:digits`` as 8×8) behave like any
scikit-learn estimator: ``get_params``/``set_params``/``clone``, ``fit``,
``predict``, ``predict_proba`` and ``classes_`` for classifiers, ``score``. So
evaluation, selection and the registry treat them like every other candidate.

- TensorFlow is imported inside ``fit``/``predict`` (see :mod:`.runtime`), never
  when this module is imported.
- ``random_state`` seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``)
  and the early-stopping validation split: the same seed on the same worker
  configuration gives the same model.
- ``history_`` keeps loss and metrics per epoch (``loss``, ``val_loss``,
  ``accuracy``/``mae`` ...), ``n_epochs_`` how many ran, ``best_epoch_`` the one
  whose weights were kept.
- ``warm_start``: a second ``fit`` with more ``epochs`` goes on from the first one's last epoch
  (network, optimizer, dropout and early-stopping state kept in the ``.keras`` format); the model is
  the one a single fit of all the epochs gives (a halving search's rungs grow Keras models so).
- Pickling (Dask sends a refit model back to the notebook that way) stores the
  network in the ``.keras`` format; it is rebuilt on first use, so unpickling
  does not import TensorFlow.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError

__all__ = [
    "KerasMLPClassifier",
    "KerasMLPRegressor",
    "KerasCNNClassifier",
    "KerasCNNRegressor",
    "keras_bytes",
    "model_from_keras_bytes",
]

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish")
_PREDICT_BATCH = 4096
#: seeding and building (or loading) a network draw from process-wide generators (Python's ``random``
#: gives each layer's initializer and dropout its seed): one at a time, so that two fits in one Dask
#: worker's threads never take each other's draws and the same seed gives the same network
_BUILD_LOCK = threading.RLock()


def keras_bytes(model) -> bytes:
    """The ``.keras`` file of a Keras model, as bytes."""
    with tempfile.TemporaryDirectory(prefix="stratum-keras-") as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def model_from_keras_bytes(data: bytes, compile: bool = False):
    """A Keras model from the bytes of a ``.keras`` file (``safe_mode``: no arbitrary code); with
    ``compile``, its optimizer and its state too."""
    from .runtime import tensorflow

    tensorflow()
    import keras

    with tempfile.TemporaryDirectory(prefix="stratum-keras-") as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(data)
        with _BUILD_LOCK:  # its layers draw seeds too (then overwritten): not between another fit's draws
            return keras.saving.load_model(path, compile=compile, safe_mode=True)


def _positive_ints(name: str, value, allow_empty: bool = False) -> tuple[int, ...]:
    values = (value,) if isinstance(value, Integral) else tuple(value)
    if (not values and not allow_empty) or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(f"{name} must be a list of positive integers, got {value!r}")
    return tuple(int(v) for v in values)


@dataclass
class _Resume:
    """Where a training run stands after an epoch, so that a later ``fit`` with more ``epochs`` and
    ``warm_start`` goes on from there: the last epoch's network and optimizer in the ``.keras`` format
    (never a pickle), the dropout layers' random states (which that format leaves out), the epoch, the
    shuffling seed and the early stopping's state. Each epoch's row order depends on the seed and the
    epoch only, so going on from epoch k gives the model a run of all the epochs at once gives."""

    keras: bytes | None
    epoch: int
    seeds: list  # the seed generators' states, in the network's order
    shuffle_seed: int
    best: float = math.inf  # lowest validation loss so far
    wait: int = 0  # epochs since it was reached
    best_weights: list | None = None
    history: dict = field(default_factory=dict)
    stopped: bool = False  # early stopping ended it: more epochs change nothing

    def save(self, model) -> None:
        self.keras = keras_bytes(model)
        self.seeds = [np.asarray(v) for v in _seed_states(model)]

    def model(self):
        model = model_from_keras_bytes(self.keras, compile=True)
        for variable, value in zip(_seed_states(model), self.seeds):
            variable.assign(value)
        return model


def _seed_states(model) -> list:
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def _stopper(keras, state: _Resume, patience: int | None):
    """A Keras callback recording each epoch in ``state`` and, with a ``patience``, stopping as
    Keras's ``EarlyStopping(restore_best_weights=True)`` does, its state kept in ``state`` too."""

    class Stopper(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for k, v in (logs or {}).items():
                state.history.setdefault(k, []).append(float(v))
            state.epoch = epoch + 1
            if patience is None:
                return
            current = float((logs or {})["val_loss"])
            if current < state.best:
                state.best, state.wait, state.best_weights = current, 0, self.model.get_weights()
                return
            state.wait += 1
            if state.wait >= patience:
                state.stopped = True
                self.model.stop_training = True

    return Stopper()


class _KerasEstimator(BaseEstimator):
    """What the MLP and CNN templates share: training loop, seeds, history, pickling."""

    #: the registry stores a Pipeline ending in this estimator with the ``keras`` flavor
    stratum_flavor = "keras"
    #: placement: the Dask resource these candidates ask for when a worker offers it
    stratum_accelerator = "GPU"
    _task = "classification"

    # ---- to be defined by the templates -----------------------------------
    def _check_params(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, Integral) or isinstance(value, bool) or value < (0 if name == "patience" else 1):
                raise ValueError(f"{name} must be an integer >= {0 if name == 'patience' else 1}, got {value!r}")
        if not isinstance(self.learning_rate, Real) or self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be a number > 0, got {self.learning_rate!r}")
        if not isinstance(self.dropout, Real) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.validation_fraction, Real) or not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got {self.activation!r}")

    def _inputs(self, X) -> np.ndarray:
        return X

    def _body(self, keras, inputs):
        raise NotImplementedError

    # ---- data ---------------------------------------------------------------
    def _as_array(self, X, y=None, *, reset: bool) -> Any:
        """X (and y) checked as scikit-learn checks them (finite, 2-d, at least one row and feature,
        the fitted width on predict), as float32; sparse one-hot blocks made dense."""
        from sklearn.utils.validation import validate_data

        kwargs = {"accept_sparse": True, "dtype": "float32", "reset": reset}
        if y is None:
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(self, X, y, y_numeric=self._task == "regression", **kwargs)
        if hasattr(X, "toarray"):  # sparse (one-hot encoded categories)
            X = np.asarray(X.toarray(), dtype="float32")
        return X if y is None else (X, y)

    def _targets(self, y):
        y = np.asarray(y)
        if self._task == "classification":
            from sklearn.utils.multiclass import check_classification_targets

            check_classification_targets(y)  # a continuous target is a mistake, not 500 classes
            self.classes_, encoded = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(f"classification needs at least two classes, got 1 class: {self.classes_[0]!r}")
            return encoded.astype("int32")
        y = y.astype("float64")
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) or 1.0
        return ((y - self.y_mean_) / self.y_scale_).astype("float32")

    # ---- the network ----------------------------------------------------------
    def _seed(self) -> int:
        """The next layer's seed: every initializer and dropout draws from the estimator's own seeds,
        never from process-wide generators (a Dask worker's other threads draw from those too)."""
        return int(self._layer_seeds.randint(2**31 - 1))

    def _kernel(self, keras):
        return keras.initializers.GlorotUniform(seed=self._seed())

    def _build(self, keras, n_features: int, seed: int):
        self._layer_seeds = np.random.RandomState(seed)
        inputs = keras.Input(shape=(n_features,), name="features")
        x = self._body(keras, inputs)
        if self._task == "classification":
            outputs = keras.layers.Dense(
                len(self.classes_), activation="softmax", name="proba", kernel_initializer=self._kernel(keras)
            )(x)
        else:
            outputs = keras.layers.Dense(1, name="value", kernel_initializer=self._kernel(keras))(x)
        model = keras.Model(inputs, outputs, name=type(self).__name__)
        del self._layer_seeds  # drawn: the network holds its seeds now
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=float(self.learning_rate)),
            loss="sparse_categorical_crossentropy" if self._task == "classification" else "mse",
            metrics=["accuracy"] if self._task == "classification" else ["mae"],
        )
        return model

    # ---- scikit-learn API ---------------------------------------------------
    def fit(self, X, y):
        """Train for ``epochs`` epochs (fewer if early stopping ends it); with ``warm_start`` a model
        fitted before with fewer epochs goes on from where it was instead (see :class:`_Resume`)."""
        self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        X, y = self._as_array(X, y, reset=True)
        y_enc = self._targets(y)
        self._check_inputs(X)
        from .runtime import tensorflow

        tf = tensorflow()
        import keras

        from .runtime import current_config

        config = current_config()
        self.device_ = config.device if config else "CPU"
        X_fit, y_fit, validation = X, y_enc, None
        if self.early_stopping and len(X) >= 20:
            X_fit, X_val, y_fit, y_val = self._validation_split(X, y_enc)
            validation = (X_val, y_val)
        resume = getattr(self, "_resume", None) if self.warm_start else None
        if resume is not None and resume.epoch > int(self.epochs):
            resume = None  # fewer epochs than it has: start again
        with tf.device("/GPU:0" if config and config.gpus else "/CPU:0"):
            if resume is None:
                with _BUILD_LOCK:
                    if self.random_state is not None:
                        keras.utils.set_random_seed(int(self.random_state))
                    shuffle_seed = (
                        int(self.random_state) if self.random_state is not None else int(np.random.randint(2**31 - 1))
                    )
                    model, state = self._build(keras, X.shape[1], shuffle_seed), _Resume(None, 0, [], shuffle_seed)
            elif resume.stopped:  # early stopping ended it: more epochs give the same model
                model, state = self.model_, resume
            else:
                model, state = resume.model(), resume
            if not state.stopped:
                self._train(tf, keras, model, state, X_fit, y_fit, validation)
            if self.warm_start and not state.stopped:  # the last epoch's network, to go on from
                state.save(model)
            if state.best_weights is not None:
                model.set_weights(state.best_weights)
        self._resume = state if self.warm_start else None
        self.history_ = {k: list(v) for k, v in state.history.items()}
        self.n_epochs_ = state.epoch
        losses = self.history_.get("val_loss") or self.history_.get("loss") or [0.0]
        self.best_epoch_ = int(np.argmin(losses)) + 1
        self._model = model
        self._keras_bytes = None
        return self

    def _train(self, tf, keras, model, state: _Resume, X, y, validation) -> None:
        """Epochs ``state.epoch`` to ``epochs``, each over the rows in an order that depends on the seed
        and the epoch only, so a run that stopped at epoch k and goes on is the run that never stopped."""
        n, batch = len(X), int(self.batch_size)
        seed, first = state.shuffle_seed, state.epoch
        orders = np.stack(
            [np.random.RandomState([seed % 2**32, e]).permutation(n) for e in range(first, int(self.epochs))]
        ).astype("int64")
        X_t, y_t = tf.constant(X), tf.constant(y)
        data = (
            tf.data.Dataset.from_tensor_slices(orders)
            .flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch))
            .map(lambda rows: (tf.gather(X_t, rows), tf.gather(y_t, rows)))
            .prefetch(2)
        )
        stopper = _stopper(keras, state, int(self.patience) if validation is not None else None)
        model.fit(
            data,
            epochs=int(self.epochs),
            initial_epoch=first,
            steps_per_epoch=-(-n // batch),
            validation_data=validation,
            validation_batch_size=_PREDICT_BATCH,
            callbacks=[stopper],
            shuffle=False,  # the dataset is: in each epoch's own order
            verbose=int(self.verbose),
        )

    def _validation_split(self, X, y):
        from sklearn.model_selection import train_test_split

        stratify = None
        if self._task == "classification":
            counts = np.bincount(y)
            n_val = int(np.ceil(self.validation_fraction * len(y)))
            if counts.min() >= 2 and n_val >= len(counts):
                stratify = y
        return train_test_split(
            X, y, test_size=self.validation_fraction, random_state=self.random_state, stratify=stratify
        )

    def _check_inputs(self, X) -> None:
        pass

    @property
    def model_(self):
        """The fitted Keras model (rebuilt from its ``.keras`` bytes after unpickling)."""
        model = getattr(self, "_model", None)
        if model is None:
            data = getattr(self, "_keras_bytes", None)
            if data is None:
                raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit first.")
            model = self._model = model_from_keras_bytes(data)
        return model

    def _raw_predict(self, X) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit first.")
        X = self._as_array(X, reset=False)
        model = self.model_
        from .runtime import tensorflow

        tensorflow()
        if len(X) == 0:
            width = len(self.classes_) if self._task == "classification" else 1
            return np.zeros((0, width), dtype="float32")
        out = [model(X[i : i + _PREDICT_BATCH], training=False).numpy() for i in range(0, len(X), _PREDICT_BATCH)]
        return np.concatenate(out)

    # ---- pickling: the network travels as a .keras file -----------------------
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        model = state.pop("_model", None)
        if model is not None:
            state["_keras_bytes"] = keras_bytes(model)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._model = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.input_tags.sparse = True  # one-hot blocks from the preprocessing are made dense
        return tags


class _ClassifierMixin(ClassifierMixin):
    _task = "classification"

    def predict_proba(self, X) -> np.ndarray:
        proba = self._raw_predict(X).astype("float64")
        return proba / proba.sum(axis=1, keepdims=True)  # exact normalisation of float32 softmax

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: an unfitted estimator raises NotFittedError, not AttributeError
        return self.classes_[np.argmax(proba, axis=1)]


class _RegressorMixin(RegressorMixin):
    _task = "regression"

    def predict(self, X) -> np.ndarray:
        return self._raw_predict(X)[:, 0].astype("float64") * self.y_scale_ + self.y_mean_


class _MLP(_KerasEstimator):
    def __init__(
        self,
        hidden_layer_sizes=(64, 64),
        activation="relu",
        dropout=0.0,
        epochs=30,
        batch_size=64,
        learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.1,
        patience=5,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _check_params(self) -> None:
        super()._check_params()
        _positive_ints("hidden_layer_sizes", self.hidden_layer_sizes, allow_empty=True)

    def _body(self, keras, inputs):
        x = inputs
        for i, units in enumerate(_positive_ints("hidden_layer_sizes", self.hidden_layer_sizes, True)):
            x = keras.layers.Dense(
                units, activation=self.activation, name=f"dense_{i}", kernel_initializer=self._kernel(keras)
            )(x)
            if self.dropout:
                x = keras.layers.Dropout(float(self.dropout), name=f"dropout_{i}", seed=self._seed())(x)
        return x


class _CNN(_KerasEstimator):
    def __init__(
        self,
        image_shape=None,
        filters=(16, 32),
        kernel_size=3,
        dense_units=64,
        activation="relu",
        dropout=0.25,
        epochs=30,
        batch_size=64,
        learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.1,
        patience=5,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.image_shape = image_shape
        self.filters = filters
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.activation = activation
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _check_params(self) -> None:
        super()._check_params()
        _positive_ints("filters", self.filters)
        if not isinstance(self.kernel_size, Integral) or self.kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive integer, got {self.kernel_size!r}")
        if not isinstance(self.dense_units, Integral) or self.dense_units < 0:
            raise ValueError(f"dense_units must be an integer >= 0, got {self.dense_units!r}")
        self._shape()

    def _shape(self) -> tuple[int, int, int]:
        if self.image_shape is None:
            raise ValueError(
                f"{type(self).__name__} needs image rows: the data has no image shape. Use image data "
                "(e.g. data: sklearn:digits) or give image_shape: [height, width] (or [height, width, "
                "channels]) whose product is the number of feature columns."
            )
        shape = _positive_ints("image_shape", self.image_shape)
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3:
            raise ValueError(
                f"image_shape must be [height, width] or [height, width, channels], got {self.image_shape!r}"
            )
        return shape

    def _check_inputs(self, X) -> None:
        shape = self._shape()
        if int(np.prod(shape)) != X.shape[1]:
            raise ValueError(
                f"image_shape {list(self.image_shape)} holds {int(np.prod(shape))} values per image, but the "
                f"rows have {X.shape[1]} features. Give the right image_shape, or remove preprocessing steps "
                "that change the number of columns."
            )

    def _body(self, keras, inputs):
        h, w, c = self._shape()
        x = keras.layers.Reshape((h, w, c), name="image")(inputs)
        for i, n in enumerate(_positive_ints("filters", self.filters)):
            x = keras.layers.Conv2D(
                n,
                int(self.kernel_size),
                padding="same",
                activation=self.activation,
                name=f"conv_{i}",
                kernel_initializer=self._kernel(keras),
            )(x)
            if x.shape[1] >= 2 and x.shape[2] >= 2:
                x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        if self.dropout:
            x = keras.layers.Dropout(float(self.dropout), name="dropout_conv", seed=self._seed())(x)
        if self.dense_units:
            x = keras.layers.Dense(
                int(self.dense_units), activation=self.activation, name="dense", kernel_initializer=self._kernel(keras)
            )(x)
            if self.dropout:
                x = keras.layers.Dropout(float(self.dropout), name="dropout_dense", seed=self._seed())(x)
        return x


class KerasMLPClassifier(_ClassifierMixin, _MLP):
    """Keras multi-layer perceptron for classification (softmax output, Adam, early stopping)."""


class KerasMLPRegressor(_RegressorMixin, _MLP):
    """Keras multi-layer perceptron for regression (standardised target, MSE, Adam, early stopping)."""


class KerasCNNClassifier(_ClassifierMixin, _CNN):
    """Small Keras convolutional network for image rows (e.g. 8×8 digits), classification."""


class KerasCNNRegressor(_RegressorMixin, _CNN):
    """Small Keras convolutional network for image rows, regression."""
