"""YAML text -> :class:`PipelineSpec`, with the line and field of every problem.

``parse_spec`` checks the structure (pydantic) and, with ``validate=True``, everything that
can be checked without the data (``check_spec``: algorithms, params, metrics); the training
run validates once more only what needs the data (the inferred task).
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..catalog.algorithm import ParamError
from ..catalog.space import quote_calls
from ..errors import SpecError
from .model import PipelineSpec, SpecIssue, known_task, summarize_issues

# ---- parsing with line numbers ----------------------------------------------


class LineMap:
    """Path in the YAML document -> 1-based line number."""

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        self.short_form: dict[tuple, str] = {}
        try:
            node = yaml.compose(quote_calls(text), Loader=yaml.SafeLoader)
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


def _friendly(err: ErrorDetails, fields: list[str]) -> str:
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
        return yaml.safe_load(quote_calls(text))
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
            raise SpecError(summarize_issues(issues), issues) from None
    if validate:
        issues = check_spec(spec, task=task or known_task(spec), lines=lines)
        if issues:
            raise SpecError(summarize_issues(issues), issues)
    return spec


def check_spec(spec: PipelineSpec, *, task: str | None = None, lines: LineMap | None = None) -> list[SpecIssue]:
    """Everything that can be checked without the data: algorithms, params, metrics, resources."""
    from ..catalog import resolve
    from ..evaluate.metrics import METRICS

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
        for err in algo.param_errors(step.params):
            add(("preprocess", i, "params", err.param), str(err))
    for i, model in enumerate(spec.models):
        try:
            algo = resolve(model.algorithm, task=task)
        except SpecError as exc:
            add(("models", i, "algorithm"), str(exc))
            continue
        try:
            if spec.search.strategy == "grid":
                grid = algo.expand(model.params)
            else:  # every list value and each distribution's bounds, one parameter at a time
                values = algo.probe_values(model.params)
                grid = [{k: v} for k, vs in values.items() for v in vs] + [{k: vs[0] for k, vs in values.items()}]
        except ParamError as exc:
            add(("models", i, "params", exc.param), str(exc))
            continue
        seen_bad = set()
        for params in grid:
            for err in algo.param_errors(_as_lists(params)):
                if err.param not in seen_bad:
                    seen_bad.add(err.param)
                    add(("models", i, "params", err.param), str(err))
        resource = spec.search.resource
        if spec.search.strategy == "halving" and resource not in ("auto", "n_samples"):
            if resource not in algo.param_names:
                add(
                    ("search", "resource"),
                    f"resource {resource}: {algo.name} has no parameter {resource}, so it can't grow by it. "
                    "Use resource: n_samples (rows) or auto, or remove that model",
                )
            elif resource in model.params:
                add(
                    ("models", i, "params", resource),
                    f"{resource} is the halving resource, so the search sets it at each rung: remove it from params",
                )
        grid = grid[-1:]  # the probe below is built from one full set of values
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
    if issues and task and not spec.task:  # the user did not choose the task: say where it came from
        for issue in issues:
            issue.message += f" (task inferred from the target: {task}; set task: to override)"
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
