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
- Pickling (Dask sends a refit model back to the notebook that way) stores the
  network in the ``.keras`` format; it is rebuilt on first use, so unpickling
  does not import TensorFlow.
"""

from __future__ import annotations

import os
import tempfile
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


def keras_bytes(model) -> bytes:
    """The ``.keras`` file of a Keras model, as bytes."""
    with tempfile.TemporaryDirectory(prefix="stratum-keras-") as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def model_from_keras_bytes(data: bytes):
    """A Keras model from the bytes of a ``.keras`` file (``safe_mode``: no arbitrary code)."""
    from .runtime import tensorflow

    tensorflow()
    import keras

    with tempfile.TemporaryDirectory(prefix="stratum-keras-") as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(data)
        return keras.saving.load_model(path, compile=False, safe_mode=True)


def _positive_ints(name: str, value, allow_empty: bool = False) -> tuple[int, ...]:
    values = (value,) if isinstance(value, Integral) else tuple(value)
    if (not values and not allow_empty) or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(f"{name} must be a list of positive integers, got {value!r}")
    return tuple(int(v) for v in values)


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
    def _build(self, keras, n_features: int):
        inputs = keras.Input(shape=(n_features,), name="features")
        x = self._body(keras, inputs)
        if self._task == "classification":
            outputs = keras.layers.Dense(len(self.classes_), activation="softmax", name="proba")(x)
        else:
            outputs = keras.layers.Dense(1, name="value")(x)
        model = keras.Model(inputs, outputs, name=type(self).__name__)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=float(self.learning_rate)),
            loss="sparse_categorical_crossentropy" if self._task == "classification" else "mse",
            metrics=["accuracy"] if self._task == "classification" else ["mae"],
        )
        return model

    # ---- scikit-learn API ---------------------------------------------------
    def fit(self, X, y):
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
        if self.random_state is not None:
            keras.utils.set_random_seed(int(self.random_state))
        X_fit, y_fit, validation = X, y_enc, None
        if self.early_stopping and len(X) >= 20:
            X_fit, X_val, y_fit, y_val = self._validation_split(X, y_enc)
            validation = (X_val, y_val)
        callbacks = []
        if validation is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=int(self.patience), restore_best_weights=True
                )
            )
        with tf.device("/GPU:0" if config and config.gpus else "/CPU:0"):
            model = self._build(keras, X.shape[1])
            history = model.fit(
                X_fit,
                y_fit,
                epochs=int(self.epochs),
                batch_size=int(self.batch_size),
                validation_data=validation,
                callbacks=callbacks,
                shuffle=True,
                verbose=int(self.verbose),
            )
        self.history_ = {k: [float(v) for v in values] for k, values in history.history.items()}
        self.n_epochs_ = len(self.history_.get("loss", []))
        losses = self.history_.get("val_loss") or self.history_.get("loss") or [0.0]
        self.best_epoch_ = int(np.argmin(losses)) + 1
        self._model = model
        self._keras_bytes = None
        return self

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

    def _check_params(self) -> None:
        super()._check_params()
        _positive_ints("hidden_layer_sizes", self.hidden_layer_sizes, allow_empty=True)

    def _body(self, keras, inputs):
        x = inputs
        for i, units in enumerate(_positive_ints("hidden_layer_sizes", self.hidden_layer_sizes, True)):
            x = keras.layers.Dense(units, activation=self.activation, name=f"dense_{i}")(x)
            if self.dropout:
                x = keras.layers.Dropout(float(self.dropout), name=f"dropout_{i}")(x)
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
                n, int(self.kernel_size), padding="same", activation=self.activation, name=f"conv_{i}"
            )(x)
            if x.shape[1] >= 2 and x.shape[2] >= 2:
                x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        if self.dropout:
            x = keras.layers.Dropout(float(self.dropout), name="dropout_conv")(x)
        if self.dense_units:
            x = keras.layers.Dense(int(self.dense_units), activation=self.activation, name="dense")(x)
            if self.dropout:
                x = keras.layers.Dropout(float(self.dropout), name="dropout_dense")(x)
        return x


class KerasMLPClassifier(_ClassifierMixin, _MLP):
    """Keras multi-layer perceptron for classification (softmax output, Adam, early stopping)."""


class KerasMLPRegressor(_RegressorMixin, _MLP):
    """Keras multi-layer perceptron for regression (standardised target, MSE, Adam, early stopping)."""


class KerasCNNClassifier(_ClassifierMixin, _CNN):
    """Small Keras convolutional network for image rows (e.g. 8×8 digits), classification."""


class KerasCNNRegressor(_RegressorMixin, _CNN):
    """Small Keras convolutional network for image rows, regression."""
