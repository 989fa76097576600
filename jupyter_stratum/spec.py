"""`PipelineSpec`: the one description of a pipeline every front-end builds.

The body of a ``%%stratum train`` cell is YAML::

    data: df                       # notebook DataFrame | csv/parquet path | sklearn:breast_cancer
    target: label
    split: {test_size: 0.2, cv: 5, seed: 0}
    preprocess: [standard_scaler]
    models:
      - logistic_regression: {C: [0.1, 1, 10]}   # a list is a search space
      - random_forest: {n_estimators: 200}
      - gradient_boosting
    metric: roc_auc

Every error names the line and the field and says what would be valid.
``parse_spec(spec.to_yaml()) == spec`` holds for every valid spec.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import SpecError

Task = Literal["classification", "regression"]
_MODEL_KEYS = {"algorithm", "params", "resources", "label"}


# The data sets a spec can name as ``data: sklearn:<name>`` (loaded by ``training.data``).
SKLEARN_DATASETS = ("breast_cancer", "iris", "wine", "digits", "diabetes")


@dataclass
class SpecIssue:
    """One problem in a spec: where (line, path) and what."""

    path: tuple
    message: str
    line: int | None = None

    @property
    def field(self) -> str:
        return format_path(self.path)

    def to_json(self) -> dict:
        return {"line": self.line, "path": list(self.path), "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.field or 'spec'}: {self.message}"


def format_path(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Split(_Strict):
    """Holdout part, cross-validation folds and the seed of both."""

    test_size: float = Field(0.2, gt=0, lt=1, description="share of rows kept for the holdout score")
    cv: int = Field(5, ge=2, le=50, description="number of cross-validation folds")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the split and of estimators' random_state")


class Step(_Strict):
    """A preprocessing step: a transformer of the catalog and its params."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value):
        return _short_form(value, "name")


class ModelSpec(_Strict):
    """A candidate algorithm; a list value in ``params`` is a search space."""

    algorithm: str
    params: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, float] = Field(default_factory=dict)
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value):
        return _short_form(value, "algorithm")

    @field_validator("resources")
    @classmethod
    def _positive(cls, value: dict[str, float]):
        for key, amount in value.items():
            if amount <= 0:
                raise ValueError(f"resource {key} must be > 0, got {amount}")
        return value


def _short_form(value, key: str):
    """``"svc"`` or ``{"svc": {...}}`` -> ``{key: "svc", "params": {...}}``."""
    if isinstance(value, str):
        return {key: value}
    if isinstance(value, dict) and len(value) == 1:
        ((name, params),) = value.items()
        if name not in _MODEL_KEYS | {"name"}:
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise ValueError(f"the parameters of {name} must be a mapping such as {{C: 1.0}}, got {params!r}")
            params = dict(params)
            out = {key: name}
            for reserved in ("resources", "label"):
                if reserved in params and key == "algorithm":
                    out[reserved] = params.pop(reserved)
            out["params"] = params
            return out
    return value


class PipelineSpec(_Strict):
    """A pipeline: data, target, split, preprocessing, candidate models, metrics."""

    data: str = Field(
        description="DataFrame variable name, csv/parquet path, or sklearn:<dataset>",
        examples=[f"sklearn:{name}" for name in SKLEARN_DATASETS],
    )
    target: str | None = Field(None, description="target column (default 'target' for sklearn: datasets)")
    task: Task | None = Field(None, description="inferred from the target when omitted")
    split: Split = Field(default_factory=Split)
    preprocess: list[Step] = Field(default_factory=list)
    models: list[ModelSpec] = Field(min_length=1)
    metric: str | None = Field(None, description="selection metric (default accuracy / r2)")
    metrics: list[str] | None = Field(None, description="metrics to report (default: all of the task)")

    @field_validator("data")
    @classmethod
    def _data_not_empty(cls, value: str):
        if not value.strip():
            raise ValueError("data is empty: name a DataFrame, a csv/parquet path, or sklearn:<dataset>")
        return value

    # ---- YAML --------------------------------------------------------------
    def to_dict(self) -> dict:
        """The short, readable form (the one a user writes)."""
        out: dict[str, Any] = {"data": self.data}
        if self.target is not None:
            out["target"] = self.target
        if self.task is not None:
            out["task"] = self.task
        out["split"] = self.split.model_dump()
        if self.preprocess:
            out["preprocess"] = [s.name if not s.params else {s.name: dict(s.params)} for s in self.preprocess]
        models = []
        for m in self.models:
            if m.label is None and not m.resources:
                models.append(m.algorithm if not m.params else {m.algorithm: dict(m.params)})
            else:
                models.append(m.model_dump(exclude_none=True))
        out["models"] = models
        if self.metric is not None:
            out["metric"] = self.metric
        if self.metrics is not None:
            out["metrics"] = list(self.metrics)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    @classmethod
    def from_yaml(cls, text: str) -> PipelineSpec:
        return parse_spec(text)


# ---- parsing with line numbers ----------------------------------------------


class LineMap:
    """Path in the YAML document -> 1-based line number."""

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        self.short_form: dict[tuple, str] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            node = None
        if node is not None:
            self._walk(node, ())

    def _walk(self, node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            if len(node.value) == 1 and len(path) == 2 and path[0] in ("models", "preprocess"):
                self.short_form[path] = node.value[0][0].value
            for key, value in node.value:
                sub = path + (key.value,)
                self.lines[sub] = key.start_mark.line + 1
                self._walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = path + (i,)
                self.lines[sub] = item.start_mark.line + 1
                self._walk(item, sub)

    def line(self, path: tuple) -> int | None:
        path = tuple(path)
        # ("models", 0, "params", "C") is written ("models", 0, "svc", "C") in the short form
        if len(path) >= 3 and path[:2] in self.short_form and path[2] in ("params", "algorithm", "name"):
            key = self.short_form[path[:2]]
            alt = path[:2] + ((key,) + path[3:] if path[2] == "params" else ())
            if alt in self.lines:
                return self.lines[alt]
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1 if self.lines else None


def _friendly(err: dict, fields: list[str]) -> str:
    kind, loc, msg = err["type"], err["loc"], err["msg"]
    name = str(loc[-1]) if loc else "spec"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        return f"unknown field '{name}'. {hint}Valid fields: {', '.join(fields)}."
    if kind == "missing":
        if name == "models":
            return (
                "'models' is required: list the algorithms to train, e.g. models: [logistic_regression, random_forest]"
            )
        if name == "data":
            return "'data' is required: a DataFrame variable, a csv/parquet path, or sklearn:breast_cancer"
        return f"'{name}' is required"
    if kind == "too_short" and name == "models":
        return "'models' is empty: list at least one algorithm, e.g. models: [logistic_regression]"
    if kind == "literal_error" and name == "task":
        return f"task must be 'classification' or 'regression', got {err.get('input')!r}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = err.get("input")
    if kind not in ("value_error", "assertion_error") and not isinstance(got, dict):
        return f"{name}: {msg[0].lower() + msg[1:]}, got {got!r}"
    return msg


def _structure_issues(exc: ValidationError, lines: LineMap, model: type[BaseModel]) -> list[SpecIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        owner_fields = _fields_at(model, loc[:-1])
        issues.append(SpecIssue(loc, _friendly(err, owner_fields), lines.line(loc)))
    return issues


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        issue = SpecIssue((), f"YAML syntax error: {problem}. Check indentation, colons and brackets.", line)
        raise SpecError(f"Invalid pipeline spec:\n  {issue}", [issue]) from None


def parse_spec(text: str | dict | PipelineSpec, *, validate: bool = True, task: str | None = None) -> PipelineSpec:
    """Parse and validate a spec (YAML text, dict, or spec); :class:`SpecError` lists every problem."""
    if isinstance(text, PipelineSpec):
        spec, lines = text, LineMap(text.to_yaml())
    else:
        if isinstance(text, dict):
            raw, lines = text, LineMap(yaml.safe_dump(text, sort_keys=False))
        else:
            raw, lines = _load_yaml(text or ""), LineMap(text or "")
        if raw is None:
            issue = SpecIssue((), "the spec is empty: give at least 'data' and 'models'", 1)
            raise SpecError(f"Invalid pipeline spec:\n  {issue}", [issue])
        if not isinstance(raw, dict):
            issue = SpecIssue(
                (), f"the spec must be a mapping of fields (data:, models:, ...), got {type(raw).__name__}", 1
            )
            raise SpecError(f"Invalid pipeline spec:\n  {issue}", [issue])
        try:
            spec = PipelineSpec.model_validate(raw)
        except ValidationError as exc:
            issues = _structure_issues(exc, lines, PipelineSpec)
            raise SpecError(_summary(issues), issues) from None
    if validate:
        issues = check_spec(spec, task=task or spec.task, lines=lines)
        if issues:
            raise SpecError(_summary(issues), issues)
    return spec


def _summary(issues: list[SpecIssue]) -> str:
    head = "Invalid pipeline spec:" if len(issues) == 1 else f"Invalid pipeline spec ({len(issues)} problems):"
    return head + "\n" + "\n".join(f"  {i}" for i in issues)


# ---- checks against the catalog and the metrics -----------------------------


def search_space(algorithm, params: dict) -> list[dict]:
    """Expand list values into one params dict per combination.

    A list is a search space, except for a parameter that itself takes a list
    (``hidden_layer_sizes: [64, 32]``); give a list of lists to search those.
    """
    props = algorithm.schema.get("properties", {}) if algorithm is not None else {}
    axes = []
    for key, value in params.items():
        takes_list = _accepts_array(props.get(key, {}))
        if isinstance(value, list) and not (takes_list and not any(isinstance(v, list) for v in value)):
            if not value:
                raise SpecIssueError(key, f"{key}: an empty list gives no candidates; give at least one value")
            values = [tuple(v) if isinstance(v, list) and takes_list else v for v in value]
            axes.append([(key, v) for v in values])
        else:
            axes.append([(key, tuple(value) if isinstance(value, list) else value)])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def _accepts_array(prop: dict) -> bool:
    """Whether a flat list is one value of this parameter rather than a search space.

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


class SpecIssueError(ValueError):
    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


def check_spec(spec: PipelineSpec, *, task: str | None = None, lines: LineMap | None = None) -> list[SpecIssue]:
    """Everything that can be checked without the data: algorithms, params, metrics, resources."""
    from .catalog import resolve
    from .evaluate.metrics import METRICS

    lines = lines or LineMap(spec.to_yaml())
    task = task or spec.task
    issues: list[SpecIssue] = []

    def add(path: tuple, message: str):
        issues.append(SpecIssue(path, message, lines.line(path)))

    for i, step in enumerate(spec.preprocess):
        try:
            algo = resolve(step.name, kinds=("transformer",))
        except SpecError as exc:
            add(("preprocess", i, "name"), str(exc))
            continue
        for exc in algo.param_errors(step.params):
            add(("preprocess", i, "params", exc.param), str(exc))
    for i, model in enumerate(spec.models):
        try:
            algo = resolve(model.algorithm, task=task)
        except SpecError as exc:
            add(("models", i, "algorithm"), str(exc))
            continue
        try:
            grid = search_space(algo, model.params)
        except SpecIssueError as exc:
            add(("models", i, "params", exc.param), str(exc))
            continue
        seen_bad = set()
        for params in grid:
            for exc in algo.param_errors(_as_lists(params)):
                if exc.param not in seen_bad:
                    seen_bad.add(exc.param)
                    add(("models", i, "params", exc.param), str(exc))
        if spec.metric and spec.metric in METRICS and METRICS[spec.metric].needs == "proba":
            probe = algo.build(**_as_lists(grid[0])) if not seen_bad else None
            if probe is not None and not hasattr(probe, "predict_proba"):
                fix = " Set probability: true, or" if "probability" in algo.param_names else ""
                add(
                    ("models", i, "algorithm"),
                    f"{algo.name} gives no probabilities, so it can't be scored by {spec.metric}.{fix} choose another metric.",
                )
    for path, name in [(("metric",), spec.metric)] + [(("metrics", j), m) for j, m in enumerate(spec.metrics or [])]:
        if name is None:
            continue
        if name not in METRICS:
            valid = [m for m in METRICS if task is None or METRICS[m].task == task]
            close = difflib.get_close_matches(name, list(METRICS), n=1)
            hint = f"Did you mean '{close[0]}'? " if close else ""
            add(path, f"unknown metric '{name}'. {hint}Valid metrics: {', '.join(valid)}.")
        elif task is not None and METRICS[name].task != task:
            valid = [m for m in METRICS if METRICS[m].task == task]
            add(
                path,
                f"metric '{name}' is for {METRICS[name].task}, but the task is {task}. Use one of: {', '.join(valid)}.",
            )
    return issues


def _as_lists(params: dict) -> dict:
    """Tuples (how list-valued params are kept hashable) back to lists for validation."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def validate_text(text: str, task: str | None = None) -> dict:
    """Validate YAML for the sidebar: errors with line and field, or the normalised YAML."""
    try:
        spec = parse_spec(text, task=task)
    except SpecError as exc:
        return {
            "ok": False,
            "errors": [i.to_json() for i in exc.errors]
            or [{"line": None, "path": [], "field": "", "message": str(exc)}],
            "yaml": None,
            "spec": None,
        }
    return {"ok": True, "errors": [], "yaml": spec.to_yaml(), "spec": spec.to_dict()}
