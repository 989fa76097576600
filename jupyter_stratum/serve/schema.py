"""Input schemas: check what a client sent against the manifest's ``input_schema``.

Two shapes of schema come from the registry:

- tabular: ``{"columns": [{"name": "age", "dtype": "float64"}, ...]}`` (optional
  per column: ``"nullable": true``, ``"categories": [...]``);
- tensor: ``{"shape": [28, 28], "dtype": "float32"}`` (one array per row).

Checking turns a request into a *batch*: for tabular schemas a list of rows,
each a list of values in schema column order (cheap to check, merge and turn
into one array), for tensor schemas an ndarray. Every rejection names the field (``records[3].age``) and
says what would be valid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import RequestError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NUMBER_TYPES = frozenset((float, int))
FLOAT_MAX = 1.7976931348623157e308


def dtype_kind(dtype: str) -> str:
    """float | int | bool | string, from a NumPy/pandas dtype name."""
    d = str(dtype).lower()
    if d.startswith(("float", "double", "half")):
        return "float"
    if d.startswith(("int", "uint", "int64")):
        return "int"
    if d in ("bool", "boolean"):
        return "bool"
    return "string"  # object, string, str, category


_NUMPY = {"float": np.float64, "int": np.int64, "bool": np.bool_, "string": object}
_OIP_TYPE = {"float": "FP64", "int": "INT64", "bool": "BOOL", "string": "BYTES"}
_EXPECT = {
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "string": "a string",
}


def typename(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"the string {shown!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Column:
    __slots__ = ("name", "dtype", "kind", "nullable", "categories", "strict", "numpy_dtype", "oip_type")

    def __init__(self, spec: dict):
        if not isinstance(spec, dict) or "name" not in spec:
            raise ValueError(f"input_schema column {spec!r} has no 'name'")
        self.name = str(spec["name"])
        self.dtype = str(spec.get("dtype", "float64"))
        self.kind = dtype_kind(self.dtype)
        self.nullable = bool(spec.get("nullable", False))
        cats = spec.get("categories")
        self.categories: list | None = list(cats) if cats is not None else None
        # the model refuses values outside `categories` (an encoder with handle_unknown="error"):
        # reject them here, with the field's name, whatever the backend
        self.strict = frozenset(cats) if cats is not None and spec.get("categories_strict") else None
        self.numpy_dtype = _NUMPY[self.kind]
        if self.kind in ("float", "int"):
            try:  # keep float32 / int32 / uint8 ... as trained
                self.numpy_dtype = np.dtype(self.dtype).type
            except TypeError:
                pass
        if self.kind == "int" and self.nullable:  # null arrives as NaN, as pandas reads a column with gaps
            self.numpy_dtype = np.float64
        self.oip_type = _OIP_TYPE[self.kind]

    def describe(self) -> str:
        return f"{_EXPECT[self.kind]} ({self.dtype}{', or null' if self.nullable else ''})"

    def check(self, values: list, where) -> list:
        """Return the values, checked (and cast where JSON is looser than the dtype).

        ``where(i)`` names the field of value ``i`` in error messages.
        """
        kind = self.kind
        if kind == "float":
            try:
                if all(type(v) is float or type(v) is int for v in values) and math.isfinite(math.fsum(values)):
                    return values
            except OverflowError:
                pass
            out = []
            for i, v in enumerate(values):
                t = type(v)
                if t is float or t is int:
                    if t is int and abs(v) > FLOAT_MAX or t is float and not math.isfinite(v):
                        raise RequestError(
                            f"{where(i)}: {v!r} is out of range; expected a finite number ({self.dtype})"
                        )
                    out.append(v)
                elif v is None and self.nullable:
                    out.append(math.nan)
                else:
                    raise RequestError(f"{where(i)}: expected {self.describe()}, got {typename(v)}")
            return out
        if kind == "int":
            out = values
            for i, v in enumerate(values):
                t = type(v)
                if t is int:
                    if not INT64_MIN <= v <= INT64_MAX:
                        raise RequestError(f"{where(i)}: {v} does not fit in {self.dtype}")
                    continue
                if t is float and v.is_integer() and abs(v) < 2**63:
                    if out is values:
                        out = list(values)
                    out[i] = int(v)
                    continue
                if v is None and self.nullable:
                    if out is values:
                        out = list(values)
                    out[i] = math.nan
                    continue
                raise RequestError(f"{where(i)}: expected {self.describe()}, got {typename(v)}")
            return out
        if kind == "bool":
            for i, v in enumerate(values):
                if type(v) is not bool:
                    raise RequestError(f"{where(i)}: expected {self.describe()}, got {typename(v)}")
            return values
        # string / category
        allowed = self.categories
        strict = self.strict
        for i, v in enumerate(values):
            if type(v) is str:
                if strict is not None and v not in strict:
                    known = allowed or []
                    shown = ", ".join(repr(c) for c in known[:10])
                    more = ", ..." if len(known) > 10 else ""
                    raise RequestError(f"{where(i)}: unknown category {v!r}; the model knows {shown}{more}")
                continue
            if v is None and self.nullable:
                continue
            if allowed is not None and not isinstance(v, (list, dict)) and v in allowed:
                continue
            raise RequestError(f"{where(i)}: expected {self.describe()}, got {typename(v)}")
        return values


class TabularSchema:
    """Named columns with dtypes (a model fitted on a DataFrame)."""

    kind = "tabular"

    def __init__(self, spec: dict, max_rows: int):
        columns = spec.get("columns")
        if not isinstance(columns, list) or not columns:
            raise ValueError("input_schema.columns must be a non-empty list of {name, dtype}")
        self.columns = [Column(c) for c in columns]
        self.names = [c.name for c in self.columns]
        self.nameset = frozenset(self.names)
        if len(self.nameset) != len(self.names):
            raise ValueError("input_schema.columns has duplicate names")
        self.by_name = {c.name: c for c in self.columns}
        self.max_rows = max_rows
        # every column a float that may not be null: one type check over the whole row
        self.fast_numeric = all(c.kind == "float" and not c.nullable for c in self.columns)

    @property
    def all_numeric(self) -> bool:
        return all(c.kind in ("float", "int") for c in self.columns)

    def _check_rows(self, n: int, field: str) -> None:
        if n == 0:
            raise RequestError(f"'{field}' is empty: send at least one row")
        if n > self.max_rows:
            raise RequestError(
                f"'{field}' has {n} rows; this runtime takes at most {self.max_rows} per request "
                "(split the request, or start the runtime with a larger --max-rows)",
                status=413,
                kind="payload_too_large",
            )

    def from_records(self, records: Any) -> tuple[list[list], int]:
        if not isinstance(records, list):
            raise RequestError(
                f"'records' must be a list of objects, one per row, like [{{\"{self.names[0]}\": ...}}]; "
                f"got {typename(records)}"
            )
        n = len(records)
        self._check_rows(n, "records")
        nameset = self.nameset
        for i, rec in enumerate(records):
            if type(rec) is not dict:
                raise RequestError(
                    f"records[{i}] must be an object mapping column names to values, got {typename(rec)}"
                )
            if rec.keys() != nameset:
                missing = [c for c in self.names if c not in rec]
                if missing:
                    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                    raise RequestError(
                        f"records[{i}]: missing column '{missing[0]}'{more}; every record needs the columns "
                        f"{self._names_text()}"
                    )
                extra = [k for k in rec if k not in nameset]
                raise RequestError(
                    f"records[{i}]: unknown column '{extra[0]}'; the model takes the columns {self._names_text()}"
                )
        names = self.names
        rows = [[rec[c] for c in names] for rec in records]
        if self.fast_numeric:
            flat = rows[0] if n == 1 else [v for row in rows for v in row]
            try:
                if set(map(type, flat)) <= _NUMBER_TYPES and math.isfinite(math.fsum(flat)):
                    return rows, n
            except OverflowError:
                pass
        return self._check_rows_by_column(rows, lambda i, name: f"records[{i}].{name}"), n

    def _check_rows_by_column(self, rows: list[list], where) -> list[list]:
        """Check every column (precise messages, casts such as null -> NaN) and write casts back."""
        for j, col in enumerate(self.columns):
            values = [row[j] for row in rows]
            checked = col.check(values, lambda i, _n=col.name: where(i, _n))
            if checked is not values:
                for row, v in zip(rows, checked):
                    row[j] = v
        return rows

    def from_columns(self, named: dict[str, list], field: str) -> tuple[list[list], int]:
        """Columns given one list each (OIP: one tensor per column)."""
        missing = [c for c in self.names if c not in named]
        if missing:
            raise RequestError(f"{field}: missing input '{missing[0]}'; the model takes {self._names_text()}")
        extra = [k for k in named if k not in self.nameset]
        if extra:
            raise RequestError(f"{field}: unknown input '{extra[0]}'; the model takes {self._names_text()}")
        lengths = {len(v) for v in named.values()}
        if len(lengths) != 1:
            raise RequestError(f"{field}: every input must have the same number of rows, got {sorted(lengths)}")
        n = lengths.pop()
        self._check_rows(n, field)
        checked = [
            col.check(list(named[col.name]), lambda j, _n=col.name: f"{field}[{_n}][{j}]") for col in self.columns
        ]
        return [list(row) for row in zip(*checked)], n

    def from_matrix(self, rows: list, field: str) -> tuple[list[list], int]:
        """A 2-D numeric tensor [N, n_columns] in schema column order."""
        n = len(rows)
        self._check_rows(n, field)
        k = len(self.columns)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != k:
                raise RequestError(
                    f"{field}: row {i} must have {k} values (one per column), got {typename(row)}"
                    + (f" of length {len(row)}" if isinstance(row, list) else "")
                )
        rows = [list(row) for row in rows]
        return self._check_rows_by_column(rows, lambda i, name: f"{field}[{i}][{name}]"), n

    def _names_text(self) -> str:
        if len(self.names) <= 8:
            return ", ".join(repr(n) for n in self.names)
        return ", ".join(repr(n) for n in self.names[:8]) + f", ... ({len(self.names)} in all)"

    @staticmethod
    def merge(parts: list[list]) -> list:
        if len(parts) == 1:
            return parts[0]
        merged: list = []
        for part in parts:
            merged.extend(part)
        return merged

    @staticmethod
    def take(rows: list, start: int, stop: int) -> list:
        return rows[start:stop]

    def column_values(self, rows: list, j: int) -> list:
        return [row[j] for row in rows]


class TensorSchema:
    """One array of a fixed shape per row (images, signals)."""

    kind = "tensor"

    def __init__(self, spec: dict, max_rows: int):
        shape = spec.get("shape")
        if not isinstance(shape, list) or not shape:
            raise ValueError("input_schema.shape must be a non-empty list of dimensions")
        self.shape = tuple(None if (d is None or d == -1) else int(d) for d in shape)
        self.dtype = str(spec.get("dtype", "float32"))
        self.kind_ = dtype_kind(self.dtype)
        self.numpy_dtype = np.dtype(self.dtype) if self.kind_ != "string" else np.dtype(object)
        self.max_rows = max_rows
        self.names = [str(spec.get("name", "input"))]

    def check_array(self, data: Any, field: str) -> tuple[np.ndarray, int]:
        if not isinstance(data, list):
            raise RequestError(f"'{field}' must be a list of arrays of shape {list(self.shape)}, got {typename(data)}")
        n = len(data)
        if n == 0:
            raise RequestError(f"'{field}' is empty: send at least one row")
        if n > self.max_rows:
            raise RequestError(
                f"'{field}' has {n} rows; at most {self.max_rows} per request", status=413, kind="payload_too_large"
            )
        try:
            arr = np.asarray(data, dtype=self.numpy_dtype)
        except (ValueError, TypeError) as exc:
            raise RequestError(
                f"'{field}' must be numbers in nested lists of shape [N, {', '.join(map(str, self.shape))}]: {exc}"
            ) from None
        got = arr.shape[1:]
        if len(got) != len(self.shape) or any(e is not None and e != g for e, g in zip(self.shape, got)):
            raise RequestError(f"'{field}': each row must have shape {list(self.shape)}, got {list(got)}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise RequestError(f"'{field}' holds NaN or infinite values")
        return arr, n

    @staticmethod
    def merge(parts: list[np.ndarray]) -> np.ndarray:
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @staticmethod
    def take(arr: np.ndarray, start: int, stop: int) -> np.ndarray:
        return arr[start:stop]


def make_schema(spec: dict, max_rows: int):
    if not isinstance(spec, dict):
        raise ValueError("input_schema must be an object")
    if "columns" in spec:
        return TabularSchema(spec, max_rows)
    if "shape" in spec:
        return TensorSchema(spec, max_rows)
    raise ValueError("input_schema has neither 'columns' nor 'shape'")
