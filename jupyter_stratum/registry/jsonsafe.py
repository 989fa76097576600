"""Turn lineage values (numpy scalars, arrays, tuples, paths) into plain JSON values."""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Recursively convert ``value`` to dict/list/str/int/float/bool/None.

    NaN and infinities become ``None`` (JSON has no spelling for them); unknown
    objects become their ``repr`` so that a record can always be stored.
    """
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, bool):
        return bool(value)
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
