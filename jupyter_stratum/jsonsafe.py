"""One converter from what the core holds to plain JSON values.

Used wherever a value leaves Python as JSON: registry records and lineage, the
server's answers, bundle manifests and training samples.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import math
from pathlib import PurePath
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Recursively convert ``value`` to dict/list/str/int/float/bool/None.

    NumPy scalars and arrays become Python numbers and lists; dataclasses, pydantic
    models and objects with ``to_dict()`` become dicts; dates become ISO strings; enums
    their value. NaN and infinities become ``None`` (JSON has no spelling for them);
    anything else becomes its ``repr`` so that a record can always be stored.
    """
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not hasattr(value, "dtype"):  # a pandas object's to_dict is not ours
        return to_jsonable(to_dict())
    model_dump = getattr(value, "model_dump", None)  # pydantic
    if callable(model_dump):
        return to_jsonable(model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, pandas Index
    if callable(tolist):
        try:
            return to_jsonable(tolist())
        except Exception:  # noqa: BLE001 - fall through to repr
            pass
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return to_jsonable(item())
        except Exception:  # noqa: BLE001
            pass
    return repr(value)
