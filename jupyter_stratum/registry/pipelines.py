"""Registering an inference pipeline (``%%stratum pipeline NAME``, ``stratum pipeline FILE``).

A pipeline is registered as a versioned entry of its own (flavor ``pipeline``): its artifact is the
checked graph with every model pinned to a version (``fraud-lr@champion`` is resolved when the
pipeline is registered, so a later alias move does not change it), and its lineage lists those
versions (``extra["pipeline"]["models"]``), the input schema and the YAML as written.

Checked before anything is stored, each error with the line and the field like a training spec:
unknown models, versions and aliases; a model whose input schema does not take the pipeline's input
rows; a switch, threshold or mean ensemble on a step that gives no probabilities; branches or
ensemble members whose classes differ; unknown steps and cycles (:mod:`..serve.pipeline`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from ..errors import RegistryError, SpecError

TOP_LEVEL = ("inputs", "steps", "output")


@dataclass
class StepShape:
    """What a step gives the steps after it."""

    classes: list | None  # None: a regression value
    has_proba: bool


@dataclass
class CheckedPipeline:
    """A pipeline spec checked against the registry: the graph to store and what it pins."""

    graph: dict  # {"steps": [...], "output": STEP}, every model a pinned NAME@VERSION
    input_schema: dict
    models: dict[str, str]  # model step -> pinned ref
    requested: dict[str, str]  # model step -> the ref as written (an alias, a version, the latest)
    classes: list | None
    has_proba: bool
    sample_records: list = field(default_factory=list)

    @property
    def task(self) -> str:
        return "regression" if self.classes is None else "classification"


def check_pipeline(registry: Any, text: str) -> CheckedPipeline:
    """Parse the YAML of a pipeline and check it against ``registry``; :class:`SpecError` says where."""
    return _Checker(registry, text).check()


def _same(a: list | None, b: list | None) -> bool:
    return [str(c) for c in a or []] == [str(c) for c in b or []]


class _Checker:
    """One pipeline text checked against one registry; every ``fail`` names the line and the field."""

    def __init__(self, registry: Any, text: str):
        from ..spec.parse import LineMap, _load_yaml

        self.registry = registry
        self.raw = _load_yaml(text or "")
        self.lines = LineMap(text or "")
        self.versions: dict[str, Any] = {}  # pinned ref -> ModelVersion
        self.models: dict[str, str] = {}  # step -> pinned ref
        self.requested: dict[str, str] = {}  # step -> ref as written
        self.shapes: dict[str, StepShape] = {}

    def fail(self, path: tuple, message: str) -> NoReturn:
        from ..spec.model import SpecIssue, summarize_issues

        issue = SpecIssue(path, message, self.lines.line(path))
        raise SpecError(summarize_issues([issue]).replace("pipeline spec", "inference pipeline", 1), [issue])

    def get(self, ref: Any, path: tuple) -> Any:
        try:
            return self.registry.get(str(ref))
        except RegistryError as exc:
            self.fail(path, f"{ref!r}: {exc}")

    def check(self) -> CheckedPipeline:
        raw = self.raw
        if not isinstance(raw, dict):
            self.fail((), "an inference pipeline is a mapping with 'steps' (and 'inputs', 'output')")
        for key in raw:
            if key not in TOP_LEVEL:
                self.fail((key,), f"unknown field {key!r}; a pipeline has {', '.join(TOP_LEVEL)}")
        steps = raw.get("steps")
        if not isinstance(steps, list) or not steps:
            self.fail(("steps",), "'steps' is required: a list of {name: {model: NAME@VERSION}} and other steps")
        graph: dict[str, Any] = {"steps": [self.pin(i, entry) for i, entry in enumerate(steps)]}
        if "output" in raw:
            graph["output"] = raw["output"]
        self.spec = self.parse(graph, steps)
        graph["output"] = self.spec.output
        self.source = self.input_source()
        schema = dict(self.source.input_schema or {})
        self.columns = [(c.get("name"), c.get("dtype")) for c in schema.get("columns", [])]
        if not self.columns:
            self.fail(("inputs",), f"{self.source.ref} records no input columns; name a model with one in inputs.from")
        self.index = {s.name: i for i, s in enumerate(self.spec.steps)}
        for step in self.spec.steps:
            self.shape(step.name)
        sources = self.function_sources()
        if sources:
            graph["modules"] = sources
        final = self.shapes[self.spec.output]
        sample = list(self.source.sample.records) if self.source.sample is not None else []
        return CheckedPipeline(graph, schema, self.models, self.requested, final.classes, final.has_proba, sample)

    def pin(self, i: int, entry: Any) -> Any:
        """A model step with its model resolved to NAME@VERSION (other entries as they are)."""
        if isinstance(entry, dict) and len(entry) == 1:
            ((name, body),) = entry.items()
            if isinstance(body, dict) and "model" in body:
                mv = self.get(body["model"], ("steps", i, name, "model"))
                self.versions[mv.ref] = mv
                self.models[str(name)], self.requested[str(name)] = mv.ref, str(body["model"])
                return {name: {**body, "model": mv.ref}}
        return entry

    def parse(self, graph: dict, steps: list) -> Any:
        from ..serve.errors import PipelineError
        from ..serve.pipeline import parse_pipeline

        try:
            return parse_pipeline(graph, list(self.versions))
        except PipelineError as exc:
            if exc.index is None:
                self.fail((exc.field,) if exc.field else ("steps",), str(exc))
            entry = steps[exc.index]
            name = next(iter(entry)) if isinstance(entry, dict) and entry else None
            path = ("steps", exc.index) + ((name,) if name is not None else ()) + ((exc.field,) if exc.field else ())
            self.fail(path, re.sub(r"^steps\[\d+\] \([^)]*\)(\.\w+)?: ", "", str(exc)))

    def input_source(self) -> Any:
        """The model whose input schema the pipeline takes: ``inputs.from``, else the first model."""
        inputs = self.raw.get("inputs")
        if inputs is not None:
            if not isinstance(inputs, dict) or set(inputs) != {"from"}:
                self.fail(("inputs",), "write inputs: {from: NAME@VERSION} (the model whose input schema it takes)")
            return self.get(inputs["from"], ("inputs", "from"))
        if not self.versions:
            self.fail(("steps",), "a pipeline needs at least one model step")
        return next(iter(self.versions.values()))

    def function_sources(self) -> dict[str, str]:
        """MODULE -> source of every step function's module, found as ``import MODULE`` would find it here (the
        notebook's folder, sys.path), and checked: one .py file that loads and has the function."""
        import importlib.util

        from ..serve.errors import PipelineError
        from ..serve.pipeline import load_step_functions

        sources: dict[str, str] = {}
        for step in self.spec.steps:
            if step.kind != "function":
                continue
            module = str(step.function).split(":", 1)[0]
            where = self.where(step.name, "function")
            if module not in sources:
                try:
                    found = importlib.util.find_spec(module)
                except (ImportError, ValueError):
                    found = None
                if found is None or not found.origin or not str(found.origin).endswith(".py"):
                    self.fail(
                        where, f"no module file {module}.py on the path: put it beside the notebook (or on sys.path)"
                    )
                if found.submodule_search_locations is not None:
                    self.fail(where, f"{module} is a package; a step function's module is one .py file")
                sources[module] = Path(str(found.origin)).read_text(encoding="utf-8")
            try:
                load_step_functions({module: sources[module]}, [str(step.function)], where=module)
            except PipelineError as exc:
                self.fail(where, str(exc))
        return sources

    def where(self, step: str, key: str) -> tuple:
        return ("steps", self.index[step], step, key)

    def shape(self, name: str) -> StepShape:
        """What step ``name`` gives the steps after it (checking what it reads fits)."""
        if name not in self.shapes:
            step = self.spec.by_name[name]
            kind = step.kind if step.kind in ("model", "switch", "ensemble", "columns") else "relabel"
            self.shapes[name] = getattr(self, f"_{kind}")(step)
        return self.shapes[name]

    def rows_of(self, step: Any) -> list[tuple[Any, Any]]:
        """(name, dtype) of the rows a model step takes: the input's, or its columns step's."""
        if step.input is None:
            return self.columns
        self.shape(step.input)  # checks that the input has the columns
        dtypes = dict(self.columns)
        picked = self.spec.by_name[step.input]
        return [(new, dtypes[old]) for old, new in zip(picked.select, picked.column_names)]

    def _columns(self, step: Any) -> StepShape:
        have = [n for n, _ in self.columns]
        missing = [c for c in step.select if c not in have]
        if missing:
            self.fail(
                self.where(step.name, "columns"),
                f"the pipeline's input ({self.source.ref}) has no columns {missing[:5]}; it has {have[:8]}",
            )
        return StepShape(None, False)

    def _model(self, step: Any) -> StepShape:
        mv = self.versions[str(step.model)]
        theirs = [(c.get("name"), c.get("dtype")) for c in (mv.input_schema or {}).get("columns", [])]
        given = self.rows_of(step)
        if theirs != given:
            have = dict(given)
            missing = [n for n, _ in theirs if n not in have]
            differ = [f"{n} ({d}, the input has {have[n]})" for n, d in theirs if have.get(n, d) != d]
            why = (
                f"it needs columns the input lacks: {missing[:5]}"
                if missing
                else f"dtypes differ: {differ[:5]}"
                if differ
                else "its columns are not the input's columns in the input's order"
            )
            rows = (
                f"the rows of step {step.input!r}" if step.input else f"the pipeline's input rows ({self.source.ref})"
            )
            self.fail(
                self.where(step.name, "input" if step.input else "model"),
                f"{mv.ref} does not take {rows}: {why}"
                + ("" if step.input else "; a columns step can pick and rename them (input: STEP)"),
            )
        classes = mv.classes if (mv.task or "classification") == "classification" else None
        return StepShape(list(classes) if classes is not None else None, classes is not None)

    def _switch(self, step: Any) -> StepShape:
        cond = step.condition
        src = self.shape(cond.step)
        if cond.field != "value" and not src.has_proba:
            self.fail(
                self.where(step.name, "switch"),
                f"{cond.field} needs class probabilities; step {cond.step!r} gives none",
            )
        if cond.field == "proba" and (cond.index or 0) >= len(src.classes or []):
            self.fail(
                self.where(step.name, "switch"),
                f"proba[{cond.index}]: step {cond.step!r} has {len(src.classes or [])} classes",
            )
        a, b = self.shape(str(step.then)), self.shape(str(step.otherwise))
        if not _same(a.classes, b.classes):
            self.fail(self.where(step.name, "else"), f"the branches give different classes ({a.classes}, {b.classes})")
        return StepShape(a.classes, a.has_proba and b.has_proba)

    def _ensemble(self, step: Any) -> StepShape:
        parts = [self.shape(m) for m in step.members]
        if step.method == "mean":
            for member, part in zip(step.members, parts):
                if not part.has_proba:
                    self.fail(
                        self.where(step.name, "ensemble"), f"method mean needs probabilities; {member!r} gives none"
                    )
                if not _same(part.classes, parts[0].classes):
                    self.fail(
                        self.where(step.name, "ensemble"),
                        f"the members' classes differ ({parts[0].classes}, {part.classes})",
                    )
        return StepShape(parts[0].classes, step.method == "mean")

    def _relabel(self, step: Any) -> StepShape:  # map, threshold
        src = self.shape(str(step.of))
        if step.kind == "threshold" and not src.has_proba:
            self.fail(
                self.where(step.name, "threshold"),
                f"a threshold needs class probabilities; step {step.of!r} gives none",
            )
        return StepShape(src.classes, src.has_proba)


def register_pipeline(registry: Any, name: str, text: str) -> Any:
    """Check the pipeline YAML ``text`` and register it as the next version of ``name`` (a :class:`ModelVersion`)."""
    checked = check_pipeline(registry, text)
    lineage = {
        "task": checked.task,
        "classes": checked.classes,
        "input_schema": checked.input_schema,
        "spec_yaml": text,
        "algorithm": "pipeline",
        "params": {"models": checked.models},
        "sample": {"records": checked.sample_records, "expected": []} if checked.sample_records else None,
        "extra": {
            "pipeline": {"models": checked.models, "requested": checked.requested, "has_proba": checked.has_proba}
        },
    }
    return registry.register(name, checked.graph, lineage=lineage, flavor="pipeline")
