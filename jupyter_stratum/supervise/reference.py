"""Reference statistics of a model version's training data (see :mod:`jupyter_stratum.registry.reference`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry.reference import CATEGORICAL, NUMERIC, FeatureReference, ReferenceStats

#: values kept per numeric feature: the KS test's power grows with it until the served window
#: (a few hundred rows) dominates; 1000 floats are ~20 KB of JSON per feature
SAMPLE_SIZE = 1000
#: categories kept per categorical feature; the rarer ones are counted together as OTHER
MAX_CATEGORIES = 50
OTHER = "__other__"


def reference_statistics(
    X: Any,
    predictions: Any = None,
    *,
    task: str | None = None,
    source: str = "training",
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
) -> ReferenceStats:
    """Per column of ``X`` (a DataFrame, or a 2-D array with columns x0, x1, ...): a random sample of at
    most ``sample_size`` values (numeric) or category counts (anything else); the same for
    ``predictions`` (categorical for a classifier's labels, numeric for a regressor's values)."""
    import pandas as pd

    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X)).add_prefix("x")
    rng = np.random.default_rng(seed)
    features = [_column(str(name), frame[name], rng, sample_size) for name in frame.columns]
    prediction = None
    if predictions is not None:
        values = pd.Series(np.asarray(predictions).ravel())
        as_categorical = task == "classification" or not _is_numeric(values)
        prediction = _column("prediction", values.astype(str) if as_categorical else values, rng, sample_size)
    return ReferenceStats(n_rows=len(frame), source=source, features=features, prediction=prediction)


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _column(name: str, series, rng: np.random.Generator, sample_size: int) -> FeatureReference:
    missing = int(series.isna().sum())
    present = series.dropna()
    if _is_numeric(present):
        values = present.to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values) > sample_size:
            values = rng.choice(values, size=sample_size, replace=False)
        return FeatureReference(
            name=name, kind=NUMERIC, count=int(len(present)), missing=missing, sample=sorted(map(float, values))
        )
    counts = present.astype(str).value_counts()
    kept = counts.iloc[:MAX_CATEGORIES]
    frequencies = {str(k): int(v) for k, v in kept.items()}
    rest = int(counts.iloc[MAX_CATEGORIES:].sum())
    if rest:
        frequencies[OTHER] = frequencies.get(OTHER, 0) + rest
    return FeatureReference(
        name=name, kind=CATEGORICAL, count=int(len(present)), missing=missing, frequencies=frequencies
    )
