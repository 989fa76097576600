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
from typing import Any

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
    from ..serve.errors import PipelineError
    from ..serve.pipeline import parse_pipeline
    from ..spec.model import SpecIssue, summarize_issues
    from ..spec.parse import LineMap, _load_yaml

    raw = _load_yaml(text or "")
    lines = LineMap(text or "")

    def fail(path: tuple, message: str):
        issue = SpecIssue(path, message, lines.line(path))
        raise SpecError(summarize_issues([issue]).replace("pipeline spec", "inference pipeline", 1), [issue])

    if not isinstance(raw, dict):
        fail(
            (),
            "an inference pipeline is a mapping with 'steps' (and 'inputs', 'output'); see `stratum pipeline --help`",
        )
    for key in raw:
        if key not in TOP_LEVEL:
            fail((key,), f"unknown field {key!r}; a pipeline has {', '.join(TOP_LEVEL)}")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        fail(("steps",), "'steps' is required: a list of {name: {model: NAME@VERSION}} and other steps")

    versions: dict[str, Any] = {}  # pinned ref -> ModelVersion
    models: dict[str, str] = {}
    requested: dict[str, str] = {}
    pinned_steps = []
    for i, entry in enumerate(steps):
        if isinstance(entry, dict) and len(entry) == 1:
            ((name, body),) = entry.items()
            if isinstance(body, dict) and "model" in body:
                mv = _get(registry, body["model"], lambda msg, i=i, name=name: fail(("steps", i, name, "model"), msg))
                versions[mv.ref] = mv
                models[str(name)], requested[str(name)] = mv.ref, str(body["model"])
                entry = {name: {**body, "model": mv.ref}}
        pinned_steps.append(entry)
    graph = {"steps": pinned_steps, **({"output": raw["output"]} if "output" in raw else {})}
    try:
        spec = parse_pipeline(graph, list(versions))
    except PipelineError as exc:
        if exc.index is None:
            fail((exc.field,) if exc.field else ("steps",), str(exc))
        name = next(iter(steps[exc.index])) if isinstance(steps[exc.index], dict) and steps[exc.index] else None
        path = ("steps", exc.index) + ((name,) if name is not None else ()) + ((exc.field,) if exc.field else ())
        fail(path, re.sub(r"^steps\[\d+\] \([^)]*\)(\.\w+)?: ", "", str(exc)))
    graph["output"] = spec.output

    # the input rows: a registered model's input schema (inputs.from), else the first model's
    inputs = raw.get("inputs")
    if inputs is not None:
        if not isinstance(inputs, dict) or set(inputs) != {"from"}:
            fail(("inputs",), "write inputs: {from: NAME@VERSION} (the model whose input schema the pipeline takes)")
        source = _get(registry, inputs["from"], lambda msg: fail(("inputs", "from"), msg))
    else:
        source = next(iter(versions.values()), None)
        if source is None:
            fail(("steps",), "a pipeline needs at least one model step")
    schema = dict(source.input_schema or {})
    columns = [(c.get("name"), c.get("dtype")) for c in schema.get("columns", [])]
    if not columns:
        fail(("inputs",), f"{source.ref} records no input columns; name a model with an input schema in inputs.from")

    index = {s.name: i for i, s in enumerate(spec.steps)}
    shapes: dict[str, StepShape] = {}

    def where(step: str, key: str) -> tuple:
        return ("steps", index[step], step, key)

    def shape(step_name: str) -> StepShape:
        if step_name in shapes:
            return shapes[step_name]
        s = spec.by_name[step_name]
        if s.kind == "model":
            mv = versions[str(s.model)]
            theirs = [(c.get("name"), c.get("dtype")) for c in (mv.input_schema or {}).get("columns", [])]
            if theirs != columns:
                missing = [n for n, _ in theirs if n not in dict(columns)]
                differ = [
                    f"{n} ({d}, the input has {dict(columns)[n]})" for n, d in theirs if dict(columns).get(n, d) != d
                ]
                why = (
                    f"it needs columns the input lacks: {missing[:5]}"
                    if missing
                    else f"dtypes differ: {differ[:5]}"
                    if differ
                    else "its columns are not the input's columns in the input's order"
                )
                fail(
                    where(step_name, "model"), f"{mv.ref} does not take the pipeline's input rows ({source.ref}): {why}"
                )
            classes = mv.classes if (mv.task or "classification") == "classification" else None
            out = StepShape(list(classes) if classes is not None else None, classes is not None)
        elif s.kind == "switch":
            cond = s.condition
            assert cond is not None
            src = shape(cond.step)
            if cond.field != "value" and not src.has_proba:
                fail(
                    where(step_name, "switch"),
                    f"{cond.field} needs class probabilities, and step {cond.step!r} gives none",
                )
            if cond.field == "proba" and (cond.index or 0) >= len(src.classes or []):
                fail(
                    where(step_name, "switch"),
                    f"proba[{cond.index}]: step {cond.step!r} has {len(src.classes or [])} classes",
                )
            a, b = shape(str(s.then)), shape(str(s.otherwise))
            if [str(c) for c in a.classes or []] != [str(c) for c in b.classes or []]:
                fail(where(step_name, "else"), f"the branches give different classes ({a.classes} and {b.classes})")
            out = StepShape(a.classes, a.has_proba and b.has_proba)
        elif s.kind == "ensemble":
            parts = [shape(m) for m in s.members]
            if s.method == "mean":
                for m, p in zip(s.members, parts):
                    if not p.has_proba:
                        fail(
                            where(step_name, "ensemble"), f"method mean needs probabilities, and step {m!r} gives none"
                        )
                    if [str(c) for c in p.classes or []] != [str(c) for c in parts[0].classes or []]:
                        fail(
                            where(step_name, "ensemble"),
                            f"the members' classes differ ({parts[0].classes}, {p.classes})",
                        )
            out = StepShape(parts[0].classes, s.method == "mean")
        else:  # map, threshold
            src = shape(str(s.of))
            if s.kind == "threshold" and not src.has_proba:
                fail(
                    where(step_name, "threshold"),
                    f"a threshold needs class probabilities, and step {s.of!r} gives none",
                )
            out = StepShape(src.classes, src.has_proba)
        shapes[step_name] = out
        return out

    for s in spec.steps:
        shape(s.name)
    final = shapes[spec.output]
    sample = source.sample.records if source.sample is not None else []
    return CheckedPipeline(graph, schema, models, requested, final.classes, final.has_proba, list(sample))


def _get(registry: Any, ref: Any, fail) -> Any:
    try:
        return registry.get(str(ref))
    except RegistryError as exc:
        fail(f"{ref!r}: {exc}")


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
