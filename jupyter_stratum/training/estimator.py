"""Build the scikit-learn estimator of one candidate: preprocessing + model.

The same function runs in the notebook (refit, tests) and on Dask workers, so a
candidate is the same pipeline wherever it is fitted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureTypes:
    """Which columns are numeric and which are categorical (one-hot encoded)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @classmethod
    def of(cls, X) -> FeatureTypes:
        import pandas as pd

        numeric: list[str] = []
        categorical: list[str] = []
        for col, dtype in X.dtypes.items():
            (
                numeric
                if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
                else categorical
            ).append(col)
        return cls(tuple(numeric), tuple(categorical))


def build_estimator(
    algorithm: str,
    params: dict,
    preprocess: list[tuple[str, dict]],
    features: FeatureTypes,
    task: str | None = None,
    image_shape=None,
):
    """An unfitted Pipeline: the preprocessing steps, then the model (step ``model``).

    With categorical columns the user's steps apply to the numeric columns and
    categorical ones are imputed and one-hot encoded (unknown categories ignored).
    """
    from sklearn.pipeline import Pipeline

    from ..catalog import resolve

    algo = resolve(algorithm, task=task)
    kwargs = {k: list(v) if isinstance(v, tuple) and k != "hidden_layer_sizes" else v for k, v in params.items()}
    if image_shape is not None and "image_shape" in algo.param_names and "image_shape" not in kwargs:
        kwargs["image_shape"] = tuple(image_shape)
    model = algo.build(**kwargs)
    steps = [(name, resolve(name, kinds=("transformer",)).build(**p)) for name, p in preprocess]
    if features.categorical:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder

        numeric = Pipeline(steps) if steps else "passthrough"
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("one_hot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers = [("categorical", categorical, list(features.categorical))]
        if features.numeric:
            transformers.insert(0, ("numeric", numeric, list(features.numeric)))
        steps = [("columns", ColumnTransformer(transformers))]
    return Pipeline(steps + [("model", model)])
