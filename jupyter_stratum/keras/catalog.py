"""Catalog entries of the Keras templates: ``keras_mlp`` and ``keras_cnn``.

Like scikit-learn's classifier/regressor pairs, each template is two algorithms
(``keras_mlp_classifier``, ``keras_mlp_regressor``) sharing the stem
``keras_mlp``, which the task resolves. Their hyperparameters are described by
hand-written JSON Schemas in the same form as the scikit-learn ones.

Importing this module never imports TensorFlow (the estimators import it in ``fit``).
"""

from __future__ import annotations

from ..catalog.algorithm import Algorithm, ParamError

_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
_ACTIVATIONS = ["elu", "gelu", "relu", "selu", "sigmoid", "swish", "tanh"]


def _training_props() -> dict:
    return {
        "epochs": {
            "type": "integer",
            "minimum": 1,
            "default": 30,
            "description": "Passes over the training rows (fewer when early stopping ends training).",
        },
        "batch_size": {"type": "integer", "minimum": 1, "default": 64, "description": "Rows per gradient step."},
        "learning_rate": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 0.001,
            "description": "Learning rate of the Adam optimizer.",
        },
        "early_stopping": {
            "type": "boolean",
            "default": True,
            "description": "Hold out validation_fraction of the training rows and stop when "
            "their loss has not improved for `patience` epochs; keep the best weights.",
        },
        "validation_fraction": {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "default": 0.1,
            "description": "Share of the training rows held out for early stopping.",
        },
        "patience": {
            "type": "integer",
            "minimum": 0,
            "default": 5,
            "description": "Epochs without improvement of the validation loss before stopping.",
        },
        "random_state": {
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
            "default": None,
            "description": "Seed of weights, shuffling and the validation split (set from the "
            "spec's split.seed when omitted): same seed, same model.",
        },
        "verbose": {"type": "integer", "enum": [0, 1, 2], "default": 0, "description": "Keras fit verbosity."},
        "warm_start": {
            "type": "boolean",
            "default": False,
            "description": "Fitting again with more epochs goes on from the epochs already run (the model "
            "a fit of all the epochs at once gives); halving search grows Keras models by epochs this way.",
        },
    }


def mlp_schema(title: str) -> dict:
    props = {
        "hidden_layer_sizes": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "default": [64, 64],
            "description": "Units of each hidden Dense layer, e.g. [64, 64]; a list of lists is a search space.",
        },
        "activation": {
            "type": "string",
            "enum": _ACTIVATIONS,
            "default": "relu",
            "description": "Activation of the hidden layers.",
        },
        "dropout": {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 1,
            "default": 0.0,
            "description": "Dropout rate after each hidden layer (0: none).",
        },
        **_training_props(),
    }
    return {
        "$schema": _SCHEMA_URI,
        "title": title,
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


def cnn_schema(title: str) -> dict:
    props = {
        "image_shape": {
            "anyOf": [
                {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 3},
                {"type": "null"},
            ],
            "default": None,
            "description": "[height, width] or [height, width, channels] of each row; taken from "
            "the data when it is an image set (sklearn:digits is 8×8).",
        },
        "filters": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "default": [16, 32],
            "description": "Filters of each Conv2D layer (each followed by 2×2 max pooling).",
        },
        "kernel_size": {"type": "integer", "minimum": 1, "default": 3, "description": "Size of the square kernels."},
        "dense_units": {
            "type": "integer",
            "minimum": 0,
            "default": 64,
            "description": "Units of the Dense layer after the convolutions (0: none).",
        },
        "activation": {
            "type": "string",
            "enum": _ACTIVATIONS,
            "default": "relu",
            "description": "Activation of the convolution and dense layers.",
        },
        "dropout": {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 1,
            "default": 0.25,
            "description": "Dropout rate after the convolutions and the dense layer.",
        },
        **_training_props(),
    }
    return {
        "$schema": _SCHEMA_URI,
        "title": title,
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


def _check_cnn(params: dict) -> None:
    shape = params.get("image_shape")
    if shape is not None and len(shape) not in (2, 3):
        raise ParamError(
            "image_shape", f"image_shape must be [height, width] or [height, width, channels], got {list(shape)!r}"
        )


def algorithms() -> list[Algorithm]:
    from . import estimators as est

    out = []
    for stem, template, schema, check, classes in (
        (
            "keras_mlp",
            "Keras multi-layer perceptron",
            mlp_schema,
            None,
            {"classifier": est.KerasMLPClassifier, "regressor": est.KerasMLPRegressor},
        ),
        (
            "keras_cnn",
            "Keras small convolutional network for image rows",
            cnn_schema,
            _check_cnn,
            {"classifier": est.KerasCNNClassifier, "regressor": est.KerasCNNRegressor},
        ),
    ):
        for kind, cls in classes.items():
            out.append(
                Algorithm(
                    name=f"{stem}_{kind}",
                    class_name=cls.__name__,
                    kind=kind,
                    factory=cls,
                    source="keras",
                    aliases=(stem,),
                    doc=f"{template} ({kind}); trains on a GPU worker when the cluster has one.",
                    schema_factory=lambda schema=schema, cls=cls: schema(cls.__name__),
                    check=check,
                )
            )
    return out
