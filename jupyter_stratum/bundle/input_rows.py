"""What the input schema learns from the fitted preprocessing, and the rows the bundle is checked on.

- :func:`with_categories` — the fitted encoders' categories on string columns (strict where
  the encoder refuses unknown ones);
- :func:`with_nullable` — which columns may be null (the model fills or handles them);
- :func:`synthetic_records` — rows drawn around the holdout sample / the fitted scalers, to
  check the ONNX and TFLite copies and the runtime beyond the sample;
- :func:`model_input` — rows as the model was fitted on them, to compare with its own predict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..jsonsafe import to_jsonable


def _fitted_stats(model) -> tuple[dict[str, tuple[float, float]], dict[str, list], set[str]]:
    """Per-column (mean, std) and categories found in the model's fitted preprocessing."""
    stats: dict[str, tuple[float, float]] = {}
    cats: dict[str, list] = {}
    strict: set[str] = set()

    def walk(est):
        if est is None or isinstance(est, str):
            return
        for _, step in getattr(est, "steps", None) or []:
            walk(step)
        for item in getattr(est, "transformers_", None) or []:
            walk(item[1])
        names = getattr(est, "feature_names_in_", None)
        if names is None:
            return
        names = [str(n) for n in names]
        mean, scale = getattr(est, "mean_", None), getattr(est, "scale_", None)
        if mean is not None and len(mean) == len(names):
            for i, n in enumerate(names):
                s = float(scale[i]) if scale is not None else 1.0
                stats.setdefault(n, (float(mean[i]), s if np.isfinite(s) and s > 0 else 1.0))
        categories = getattr(est, "categories_", None)
        if categories is not None and len(categories) == len(names):
            for n, values in zip(names, categories):
                cats.setdefault(
                    n,
                    [
                        v.item() if hasattr(v, "item") else v
                        for v in values
                        if not (isinstance(v, float) and np.isnan(v)) and v is not None
                    ],
                )
                if getattr(est, "handle_unknown", None) == "error":
                    strict.add(n)

    walk(model)
    return stats, cats, strict


def with_categories(schema: dict, model) -> dict:
    """Add the fitted encoders' categories to string columns; mark those the model refuses to extend."""
    _, cats, strict = _fitted_stats(model)
    columns = []
    for col in schema["columns"]:
        col = dict(col)
        name = col["name"]
        if (
            name in cats
            and "categories" not in col
            and not str(col.get("dtype", "")).startswith(("float", "int", "uint"))
        ):
            col["categories"] = to_jsonable(cats[name])
            if name in strict:
                col["categories_strict"] = True
        columns.append(col)
    return {**schema, "columns": columns}


def _columns_accepting_missing(model, names: list[str]) -> set[str]:
    """Columns whose missing values the pipeline fills or handles itself: those an imputer
    sees (inside a ColumnTransformer only its own columns), all of them before a NaN-aware
    estimator. A Keras network, a scaler or a linear model does not handle NaN."""

    def walk(est, cols: list[str]) -> set[str]:
        if est is None or isinstance(est, str):
            return set()
        name = type(est).__name__
        if "Imputer" in name or name.startswith("HistGradientBoosting"):
            return set(cols)
        found: set[str] = set()
        for _, step in getattr(est, "steps", None) or []:
            found |= walk(step, cols)
        for item in getattr(est, "transformers_", None) or []:
            found |= walk(item[1], _selected_columns(cols, item[2]))
        return found

    return walk(model, list(names))


def _selected_columns(cols: list[str], selection) -> list[str]:
    """The names a ColumnTransformer entry selects (names, indices, a slice or a mask); none when unknown."""
    if isinstance(selection, str):
        return [selection] if selection in cols else []
    if isinstance(selection, slice):
        return cols[selection]
    try:
        items = list(selection)
    except TypeError:  # a callable selector
        return []
    if items and all(isinstance(v, (bool, np.bool_)) for v in items):
        return [c for c, keep in zip(cols, items) if keep]
    if all(isinstance(v, (int, np.integer)) for v in items):
        return [cols[int(i)] for i in items if -len(cols) <= int(i) < len(cols)]
    return [str(v) for v in items if str(v) in cols]


def with_nullable(schema: dict, model, sample: list[dict]) -> dict:
    """Mark columns that may be null: those null in the holdout sample, and those the model
    fills or handles itself (null is then sent to it as NaN/None)."""
    handled = _columns_accepting_missing(model, [c["name"] for c in schema["columns"]])
    columns = []
    for col in schema["columns"]:
        col = dict(col)
        if col["name"] in handled or any(r.get(col["name"]) is None for r in sample):
            col.setdefault("nullable", True)
        columns.append(col)
    return {**schema, "columns": columns}


def synthetic_records(schema, model, sample, rng, n) -> list[dict]:
    """Rows to check the ONNX copy on beyond the holdout sample: drawn around the
    sample (or the fitted scaler's mean/std), categories from the fitted encoders."""
    if not schema.get("columns"):
        shape = [d for d in schema.get("shape", []) if d not in (None, -1)]
        return rng.normal(size=[n] + shape).tolist() if shape else []
    stats, cats, _ = _fitted_stats(model)
    records: list[dict] = [{} for _ in range(n)]
    for col in schema["columns"]:
        cname, dtype = col["name"], str(col.get("dtype", "float64")).lower()
        seen = [r.get(cname) for r in sample if r.get(cname) is not None]
        if dtype.startswith(("float", "int", "uint")):
            if cname in stats:
                mu, sd = stats[cname]
            elif seen:
                arr = np.asarray(seen, dtype=float)
                mu, sd = float(arr.mean()), float(arr.std()) or max(1.0, abs(float(arr.mean())) * 0.1)
            else:
                mu, sd = 0.0, 1.0
            values = rng.normal(mu, sd, size=n)
            if dtype.startswith(("int", "uint")):
                values = np.round(values).astype(np.int64)
                if dtype.startswith("uint"):
                    values = np.abs(values)
            out = values.tolist()
        elif dtype.startswith("bool"):
            out = rng.integers(0, 2, size=n).astype(bool).tolist()
        else:
            choices = cats.get(cname) or col.get("categories") or sorted({str(v) for v in seen}) or ["a"]
            out = [choices[i] for i in rng.integers(0, len(choices), size=n)]
        if col.get("nullable"):  # some rows missing, so the ONNX check covers NaN handling too
            out = [None if rng.random() < 0.1 else v for v in out]
        for r, v in zip(records, out):
            r[cname] = v
    return records


def model_input(model, schema, records) -> Any:
    """The records as the model was fitted on them: a DataFrame with the schema's dtypes
    (an array when the model recorded no column names); None without pandas."""
    if not schema.get("columns"):
        return None
    try:
        import pandas as pd
    except ImportError:
        return None
    frame = pd.DataFrame(records, columns=[c["name"] for c in schema["columns"]])
    for c in schema["columns"]:
        try:
            frame[c["name"]] = frame[c["name"]].astype(c.get("dtype", "float64"))
        except (TypeError, ValueError):
            pass
    if not hasattr(model, "feature_names_in_"):
        frame = frame.to_numpy()
    return frame
