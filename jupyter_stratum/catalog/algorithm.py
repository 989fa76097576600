"""`Algorithm`: one trainable or preprocessing building block of a pipeline."""

from __future__ import annotations

import difflib
import inspect
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("classifier", "regressor", "transformer")


def snake_case(class_name: str) -> str:
    """``RandomForestClassifier`` -> ``random_forest_classifier``, ``SVC`` -> ``svc``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", class_name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


class ParamError(ValueError):
    """A hyperparameter is unknown or has a bad value; ``param`` names it."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


@dataclass
class Algorithm:
    """A named estimator class and the schema of its hyperparameters.

    ``factory(**params)`` builds an unfitted estimator with the scikit-learn API
    (fit / predict / predict_proba / transform).
    """

    name: str
    class_name: str
    kind: str
    factory: Callable[..., Any]
    source: str = "scikit-learn"
    aliases: tuple[str, ...] = ()
    doc: str = ""
    #: JSON Schema; computed on first use for scikit-learn classes
    schema_factory: Callable[[], dict] | None = None
    #: optional extra check of a full params dict (raises ParamError)
    check: Callable[[dict], None] | None = None
    #: default resource request on the cluster, e.g. {"GPU": 1}
    default_resources: dict = field(default_factory=dict)
    _schema: dict | None = field(default=None, repr=False)

    @property
    def schema(self) -> dict:
        if self._schema is None:
            self._schema = (
                self.schema_factory()
                if self.schema_factory
                else {"type": "object", "properties": {}, "additionalProperties": True}
            )
        return self._schema

    @property
    def param_names(self) -> list[str]:
        return list(self.schema.get("properties", {}))

    @property
    def has_predict_proba(self) -> bool:
        return hasattr(self.factory, "predict_proba")

    def build(self, **params) -> Any:
        return self.factory(**params)

    def validate(self, params: dict) -> None:
        """Raise :class:`ParamError` for the first unknown or invalid parameter."""
        errors = self.param_errors(params)
        if errors:
            raise errors[0]

    def expand(self, params: dict) -> list[dict]:
        """The search space of ``params``: one params dict per combination of list values.

        A list is a search space, except for a parameter that itself takes a list
        (``hidden_layer_sizes: [64, 32]``); give a list of lists to search those.
        List values of such parameters come back as tuples (hashable, one value each).
        """
        from .space import has_distribution

        dist = has_distribution(params)
        if dist is not None:
            raise ParamError(
                dist,
                f"{dist}: {params[dist]} is a distribution, which a grid can't enumerate: "
                "give a list of values, or set search: {strategy: random} (or halving) to sample it",
            )
        props = self.schema.get("properties", {})
        axes = []
        for key, value in params.items():
            takes_list = accepts_array(props.get(key, {}))
            if isinstance(value, list) and not (takes_list and not any(isinstance(v, list) for v in value)):
                if not value:
                    raise ParamError(key, f"{key}: an empty list gives no candidates; give at least one value")
                values = [tuple(v) if isinstance(v, list) and takes_list else v for v in value]
                axes.append([(key, v) for v in values])
            else:
                axes.append([(key, tuple(value) if isinstance(value, list) else value)])
        return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]

    def space(self, params: dict) -> dict:
        """``params`` as a space to sample: each value a list (drawn uniformly) or a scipy distribution.

        Lists mean what they mean to :meth:`expand` (a list-valued parameter's single value stays one
        value); a fixed value becomes a list of one; :class:`ParamError` for a malformed distribution.
        """
        from .space import parse_distribution

        props = self.schema.get("properties", {})
        out: dict = {}
        for key, value in params.items():
            dist = parse_distribution(key, value)
            if dist is not None:
                out[key] = dist.scipy()
                continue
            takes_list = accepts_array(props.get(key, {}))
            if isinstance(value, list) and not (takes_list and not any(isinstance(v, list) for v in value)):
                if not value:
                    raise ParamError(key, f"{key}: an empty list gives no candidates; give at least one value")
                out[key] = [tuple(v) if isinstance(v, list) and takes_list else v for v in value]
            else:
                out[key] = [tuple(value) if isinstance(value, list) else value]
        return out

    def probe_values(self, params: dict) -> dict[str, list]:
        """Every value of each parameter to check against its constraints: list values, a distribution's
        bounds or choices, else the value itself (:class:`ParamError` for a malformed distribution)."""
        from .space import parse_distribution

        out: dict[str, list] = {}
        for key, value in params.items():
            dist = parse_distribution(key, value)
            if dist is not None:
                out[key] = dist.edges()
            else:
                out[key] = [v[key] for v in self.expand({key: value})]
        return out

    def param_errors(self, params: dict) -> list[ParamError]:
        """Every unknown or invalid parameter, one :class:`ParamError` each."""
        errors: list[ParamError] = []
        known = self.schema.get("properties", {})
        checked = {}
        for key, value in params.items():
            if known and key not in known:
                close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                hint = f"Did you mean '{close[0]}'? " if close else ""
                errors.append(
                    ParamError(
                        key,
                        f"{self.name} has no parameter '{key}'. {hint}Valid parameters: {', '.join(sorted(known))}.",
                    )
                )
            else:
                checked[key] = value
        constraints = getattr(self.factory, "_parameter_constraints", None)
        for key, value in checked.items():
            try:
                if constraints:
                    _validate_sklearn(self.factory, constraints, {key: value})
                else:
                    _validate_schema(self.schema, {key: value})
            except ParamError as exc:
                errors.append(exc)
        if not errors and self.check:
            try:
                self.check(params)
            except ParamError as exc:
                errors.append(exc)
        return errors

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "class_name": self.class_name,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "source": self.source,
            "doc": self.doc,
            "default_resources": dict(self.default_resources),
            "schema": self.schema,
        }


_SKLEARN_MSG = re.compile(r"The '(?P<p>\w+)' parameter of \w+ must be (?P<must>.*)\. Got (?P<got>.*) instead\.$", re.S)


def _validate_sklearn(cls: Callable[..., Any], constraints: dict, params: dict) -> None:
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    for key, value in params.items():
        if key not in constraints:
            continue
        try:
            validate_parameter_constraints({key: constraints[key]}, {key: value}, caller_name=cls.__name__)
        except InvalidParameterError as exc:
            m = _SKLEARN_MSG.match(str(exc))
            if m:
                raise ParamError(key, f"{key} must be {m['must']}, got {m['got']}") from None
            raise ParamError(key, f"{key}: {exc}") from None


_JSON_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, dict),
}


def describe_schema(schema: dict) -> str:
    if "anyOf" in schema:
        return " or ".join(describe_schema(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(e) for e in schema["enum"])
    types = schema.get("type", "any value")
    types = types if isinstance(types, list) else [types]
    words = {
        "integer": "an int",
        "number": "a float",
        "boolean": "a bool",
        "string": "a str",
        "null": "None",
        "array": "a list",
        "object": "a mapping",
    }
    text = " or ".join(str(words.get(t, t)) for t in types)
    bounds = []
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            bounds.append(f"{op} {schema[key]}")
    return text + (" " + " and ".join(bounds) if bounds else "")


def schema_accepts(schema: dict, value: Any) -> bool:
    """A small JSON Schema check (types, enum, bounds, anyOf) — enough for hyperparameters."""
    if not schema:
        return True
    if "anyOf" in schema:
        return any(schema_accepts(s, value) for s in schema["anyOf"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_JSON_TYPES[t](value) for t in types):
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return False
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return False
        if "maximum" in schema and value > schema["maximum"]:
            return False
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            return False
    if isinstance(value, (list, tuple)) and "items" in schema:
        return all(schema_accepts(schema["items"], v) for v in value)
    return True


def _validate_schema(schema: dict, params: dict) -> None:
    for key, value in params.items():
        prop = schema.get("properties", {}).get(key)
        if prop is not None and not schema_accepts(prop, value):
            raise ParamError(key, f"{key} must be {describe_schema(prop)}, got {value!r}")


def first_doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def accepts_array(prop: dict) -> bool:
    """Whether a flat list is one value of this parameter (its JSON Schema) rather than a search space.

    True when the parameter takes a list and either its default is a list
    (``hidden_layer_sizes``) or it takes nothing scalar besides None; a parameter
    that takes a scalar or an array (Ridge's ``alpha``) searches over a flat list.
    """
    options = prop.get("anyOf", [prop])
    types = set()
    for o in options:
        t = o.get("type")
        types.update(t if isinstance(t, list) else [t] if t else [])
    if "array" not in types:
        return False
    return isinstance(prop.get("default"), list) or not (types - {"array", "null"})
