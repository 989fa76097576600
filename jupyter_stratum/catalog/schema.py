"""JSON Schema for a scikit-learn estimator's hyperparameters.

Derived from the estimator's own ``_parameter_constraints`` and ``__init__``
defaults, so that the sidebar's property editor and the YAML validator share one
source of truth.
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any

import numpy as np


def _json_default(value: Any) -> Any:
    """A JSON-safe form of a default value (or None where it has none)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, str, int, float)) for v in value):
        return list(value)
    if isinstance(value, dict):
        return None
    if isinstance(value, type):
        return value.__name__
    return None


def _interval_schema(interval) -> dict:
    integral = (
        issubclass(interval.type, numbers.Integral)
        and not issubclass(interval.type, numbers.Real)
        or interval.type is numbers.Integral
    )
    schema: dict[str, Any] = {"type": "integer" if integral else "number"}
    closed = interval.closed
    if interval.left is not None and not (isinstance(interval.left, float) and math.isinf(interval.left)):
        key = "minimum" if closed in ("left", "both") else "exclusiveMinimum"
        schema[key] = interval.left
    if interval.right is not None and not (isinstance(interval.right, float) and math.isinf(interval.right)):
        key = "maximum" if closed in ("right", "both") else "exclusiveMaximum"
        schema[key] = interval.right
    return schema


def constraint_schema(constraint: Any) -> dict | None:
    """JSON Schema for one sklearn parameter constraint; None if not expressible."""
    from sklearn.utils import _param_validation as pv

    if constraint is None:
        return {"type": "null"}
    if isinstance(constraint, pv.Hidden):
        return None
    if isinstance(constraint, pv.Interval):
        return _interval_schema(constraint)
    if isinstance(constraint, pv.StrOptions):
        options = sorted(o for o in constraint.options if o not in getattr(constraint, "deprecated", set()))
        return {"type": "string", "enum": options}
    if isinstance(constraint, pv.Options):
        options = sorted(constraint.options, key=str)
        return {"enum": [_json_default(o) for o in options]}
    if isinstance(constraint, str):
        known: dict[str, dict | None] = {
            "boolean": {"type": "boolean"},
            "random_state": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**32 - 1},
            "verbose": {"type": ["integer", "boolean"]},
            "array-like": {"type": "array"},
            "sparse matrix": None,
            "nan": {"const": "nan"},
            "cv_object": {"type": ["integer", "null"], "minimum": 2},
            "missing_values": {"type": ["number", "string", "null"]},
        }
        return known.get(constraint)
    if isinstance(constraint, type):
        if constraint is bool or issubclass(constraint, (bool, np.bool_)):
            return {"type": "boolean"}
        if issubclass(constraint, numbers.Integral) or constraint is numbers.Integral:
            return {"type": "integer"}
        if issubclass(constraint, numbers.Real) or constraint is numbers.Real:
            return {"type": "number"}
        if issubclass(constraint, str):
            return {"type": "string"}
        if issubclass(constraint, dict):
            return {"type": "object"}
        if issubclass(constraint, (list, tuple)):
            return {"type": "array"}
        return None
    # callables, HasMethods (estimators), MissingValues...: not expressible in a form
    return None


def _param_doc(estimator_cls: type, name: str) -> str:
    """First sentence of the parameter's numpydoc description, if any."""
    doc = inspect.getdoc(estimator_cls) or ""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{name} :") or line == name:
            text: list[str] = []
            for follow in lines[i + 1 :]:
                if follow and not follow.startswith(" "):
                    break
                if not follow.strip():
                    if text:
                        break
                    continue
                text.append(follow.strip())
            return " ".join(text)[:300]
    return ""


def estimator_schema(estimator_cls: type) -> dict:
    """JSON Schema (draft 2020-12 subset) of an estimator class's hyperparameters."""
    constraints = getattr(estimator_cls, "_parameter_constraints", {}) or {}
    signature = inspect.signature(estimator_cls.__init__)  # type: ignore[misc]  # the class's own parameters
    properties: dict[str, dict] = {}
    for name, param in signature.parameters.items():
        if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        options = []
        expressible = True
        for c in constraints.get(name, []):
            s = constraint_schema(c)
            if s is None:
                if not isinstance(c, _hidden_type()):
                    expressible = False
                continue
            options.append(s)
        prop: dict[str, Any]
        if not options:
            prop = {}
        elif len(options) == 1:
            prop = dict(options[0])
        else:
            prop = {"anyOf": options}
        if param.default is not inspect.Parameter.empty:
            default = _json_default(param.default)
            if default is not None or param.default is None:
                prop["default"] = default
        if not expressible:
            prop["x-python-only"] = True  # also accepts values a form can't express
        description = _param_doc(estimator_cls, name)
        if description:
            prop["description"] = description
        properties[name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": estimator_cls.__name__,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def _hidden_type():
    from sklearn.utils._param_validation import Hidden

    return Hidden
