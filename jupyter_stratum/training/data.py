"""Loading the data a spec names, checking it, and describing it for lineage."""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..spec import SKLEARN_DATASETS

# bundled data sets: sklearn:<name>; all ship inside scikit-learn (no download)


@dataclass
class Dataset:
    """Features and target of a pipeline, and where they came from."""

    X: Any  # pandas DataFrame
    y: Any  # pandas Series
    source: str
    target: str
    #: image shape of each row, e.g. (8, 8) for sklearn:digits; None for tables
    image_shape: tuple | None = None

    @property
    def n_rows(self) -> int:
        return len(self.X)


def _sklearn_dataset(name: str):
    import sklearn.datasets as ds

    if name not in SKLEARN_DATASETS:
        close = difflib.get_close_matches(name, SKLEARN_DATASETS, n=1)
        hint = f"Did you mean 'sklearn:{close[0]}'? " if close else ""
        raise DataError(
            f"Unknown bundled data set 'sklearn:{name}'. {hint}"
            f"Bundled: {', '.join('sklearn:' + n for n in SKLEARN_DATASETS)}."
        )
    bunch = getattr(ds, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    image_shape = tuple(bunch.images.shape[1:]) if hasattr(bunch, "images") else None
    return frame, image_shape


def read_table(source: str, base_dir: str | Path | None = None):
    """A DataFrame from a csv / parquet / json path."""
    import pandas as pd

    path = Path(os.path.expanduser(source))
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.exists():
        raise DataError(
            f"Data file not found: {path}. Give a csv or parquet path, a DataFrame variable name, or sklearn:<dataset>."
        )
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            return pd.read_csv(path, sep="\t" if ".tsv" in suffix else ",")
        if suffix.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if suffix.endswith(".json"):
            return pd.read_json(path)
    except Exception as exc:  # noqa: BLE001
        raise DataError(
            f"Could not read {path}: {type(exc).__name__}: {exc}. "
            "Check that the file is a valid csv/parquet/json table."
        ) from None
    raise DataError(f"Don't know how to read '{path.name}': use a .csv, .tsv, .parquet or .json file.")


def resolve_frame(source: str, user_ns: dict | None = None, base_dir: str | Path | None = None):
    """(DataFrame, image_shape) for a spec's ``data:`` value."""
    import pandas as pd

    source = source.strip()
    if source.startswith("sklearn:"):
        return _sklearn_dataset(source.split(":", 1)[1])
    if source.isidentifier():
        if user_ns is None or source not in user_ns:
            where = (
                "in the notebook"
                if user_ns is not None
                else "(on the command line, data must be a file path or sklearn:<dataset>)"
            )
            raise DataError(
                f"No variable named '{source}' {where}. Define the DataFrame first, "
                "or give a csv/parquet path or sklearn:<dataset>."
            )
        value = user_ns[source]
        if not isinstance(value, pd.DataFrame):
            raise DataError(
                f"'{source}' is a {type(value).__name__}, not a pandas DataFrame. "
                f"Wrap it: {source}_df = pandas.DataFrame({source})."
            )
        return value, None
    return read_table(source, base_dir), None


def load_dataset(
    source: str, target: str | None, user_ns: dict | None = None, base_dir: str | Path | None = None
) -> Dataset:
    """Load and check the data: the target exists, rows exist, no missing target values."""
    frame, image_shape = resolve_frame(source, user_ns, base_dir)
    if target is None:
        if source.startswith("sklearn:"):
            target = "target"
        else:
            raise DataError(f"No target given: add 'target: <column>' naming one of: {_columns(frame)}.")
    if frame is None or len(frame.columns) == 0:
        raise DataError(f"The data '{source}' has no columns.")
    if target not in frame.columns:
        close = difflib.get_close_matches(str(target), [str(c) for c in frame.columns], n=1)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        raise DataError(f"The data has no column '{target}'. {hint}Columns: {_columns(frame)}.")
    if len(frame) == 0:
        raise DataError(f"The data '{source}' is empty (0 rows).")
    y = frame[target]
    missing = int(y.isna().sum())
    if missing:
        raise DataError(
            f"The target '{target}' has {missing} missing value(s) (NaN). "
            "Drop those rows (df.dropna(subset=[...])) or fill them before training."
        )
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"The data has no feature columns besides the target '{target}'.")
    return Dataset(X=X, y=y, source=source, target=target, image_shape=image_shape)


def _columns(frame) -> str:
    cols = [str(c) for c in frame.columns]
    return ", ".join(cols[:20]) + (f" … ({len(cols)} in all)" if len(cols) > 20 else "")


def infer_task(y) -> str:
    """classification for labels (strings, bools, categories, few integers); else regression."""
    import pandas as pd

    if (
        isinstance(y.dtype, pd.CategoricalDtype)
        or y.dtype == bool
        or y.dtype == object
        or pd.api.types.is_string_dtype(y)
    ):
        return "classification"
    if pd.api.types.is_integer_dtype(y):
        return "classification" if y.nunique() <= 20 else "regression"
    if pd.api.types.is_float_dtype(y):
        integral = bool(((y % 1) == 0).all())
        return "classification" if integral and y.nunique() <= 20 else "regression"
    return "regression"


def fingerprint(X, y) -> str:
    """sha256 of the data's columns, dtypes and values: same data, same fingerprint."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in X.dtypes.items()]).encode())
    h.update(str(y.name).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).values.tobytes())
    h.update(pd.util.hash_pandas_object(y, index=False).values.tobytes())
    return "sha256:" + h.hexdigest()


def input_schema(X, image_shape: tuple | None = None) -> dict:
    """Column names and dtypes (and image shape) a served model expects."""
    schema = {"columns": [{"name": str(c), "dtype": str(t)} for c, t in X.dtypes.items()]}
    if image_shape:
        schema["shape"] = list(image_shape)
    return schema
