"""Inference pipelines: several models and steps run as one graph, in process (issue 15, part 2/3: a start).

A pipeline spec (the ``steps`` of ``%%stratum pipeline``, parsed from YAML by the caller)::

    steps:
      - screen: {model: anomaly}
      - route:  {switch: "screen.score > 0.8", then: deep, else: fast}
      - deep:   {model: fraud-gbm}
      - fast:   {model: fraud-lr}
      - label:  {map: {0: ok, 1: review}}
    output: label

Step kinds:

- ``{model: NAME}``: a model the caller supplies by name (a loaded :class:`ServedModel` or anything
  with its ``predict(batch, n) -> (labels, probabilities)``), run on the pipeline's input rows;
- ``{switch: "STEP.FIELD OP NUMBER", then: STEP, else: STEP}``: a cascade; each branch runs only on
  the rows the condition sends to it, and the switch's output is the branches' outputs put back in
  row order. FIELD is ``score`` (the probability of the last class), ``proba[K]``, ``confidence``
  (the top probability) or ``value`` (the label or regression value); OP one of ``> >= < <= == !=``;
- ``{ensemble: [STEP, ...], method: mean | vote}``: mean of the members' probabilities (label: the
  class with the largest mean), or the majority label (ties: the first member's label);
- ``{map: {FROM: TO, ...}, of: STEP}``: relabel an earlier step's labels (``of`` defaults to the step before);
- ``{threshold: NUMBER, of: STEP, labels: [BELOW, AT_OR_ABOVE]}``: a label from ``score``;
- ``{columns: [NAME, ...], rename: {NAME: NEW, ...}}``: some of the pipeline's input columns, in that order,
  renamed: the rows a model step reads with ``input: STEP`` (``{model: NAME, input: STEP}``) when the model
  was trained on other columns or other names than the pipeline takes. A columns step gives rows, not answers:
  only a model's ``input`` reads it;
- ``{function: MODULE:NAME, of: STEP}``: a function of the user's own, ``NAME(labels, proba, classes)``
  returning new labels (or ``(labels, proba)``), one per row, from an earlier step's answers
  (``of`` defaults to the step before). MODULE is one ``.py`` file, shipped as source in the bundle
  (``steps/MODULE.py``; never pickled) and run in the runtime's process.

A step used as a switch branch or an ensemble member runs only there. Checked before anything runs:
unknown kinds, steps and models, references to a later step (the order is the graph: no cycles),
malformed conditions -- each error names the step and the field (:class:`PipelineError`).
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import PipelineError

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_FUNCTION = re.compile(r"^([A-Za-z_]\w*):([A-Za-z_]\w*)$")
_CONDITION = re.compile(
    r"^\s*([A-Za-z_][\w-]*)\.(score|confidence|value|proba\[(\d+)\])\s*(>=|<=|==|!=|>|<)\s*(-?[\d.]+(?:e-?\d+)?)\s*$"
)


@dataclass
class StepOutput:
    """What a step produced for its rows: labels (or values) and, when known, class probabilities."""

    labels: list
    proba: np.ndarray | None = None
    classes: list | None = None


@dataclass
class Condition:
    step: str
    field: str  # score | confidence | value | proba
    index: int | None
    op: str
    number: float


@dataclass
class Step:
    name: str
    kind: str  # model | switch | ensemble | map | threshold
    model: str | None = None
    condition: Condition | None = None
    then: str | None = None
    otherwise: str | None = None
    members: list[str] = field(default_factory=list)
    method: str = "mean"
    mapping: dict = field(default_factory=dict)
    of: str | None = None
    threshold: float = 0.5
    labels: list = field(default_factory=list)
    input: str | None = None  # model: the columns step whose rows it takes (None: the pipeline's input rows)
    select: list[str] = field(default_factory=list)  # columns: input columns, in order
    rename: dict[str, str] = field(default_factory=dict)  # columns: old name -> new name
    function: str | None = None  # function: MODULE:NAME

    @property
    def column_names(self) -> list[str]:
        """A columns step's output names."""
        return [self.rename.get(c, c) for c in self.select]


@dataclass
class PipelineSpec:
    steps: list[Step]
    output: str

    @property
    def by_name(self) -> dict[str, Step]:
        return {s.name: s for s in self.steps}


def parse_pipeline(spec: Any, models: Sequence[str]) -> PipelineSpec:
    """Check a pipeline spec (a parsed YAML mapping) against the model names available."""
    if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list) or not spec["steps"]:
        raise PipelineError("a pipeline needs 'steps': a list of {name: {kind: ...}}")
    steps: list[Step] = []
    seen: list[str] = []
    for i, entry in enumerate(spec["steps"]):
        where = f"steps[{i}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise PipelineError(f"{where}: each step is one mapping {{name: {{kind: ...}}}}, got {entry!r}")
        ((name, body),) = entry.items()
        where = f"steps[{i}] ({name})"
        if name in seen:
            raise PipelineError(f"{where}: the name is used by an earlier step", index=i)
        if not isinstance(body, dict):
            raise PipelineError(f"{where}: expected a mapping like {{model: NAME}}, got {body!r}")
        try:
            steps.append(_parse_step(str(name), body, where, seen, models, spec["steps"]))
        except PipelineError as exc:
            if exc.index is None:
                exc.index = i
                found = re.match(re.escape(where) + r"\.([\w]+)", str(exc))
                exc.field = found.group(1) if found else None
            raise
        seen.append(str(name))
    output = spec.get("output", seen[-1])
    if output not in seen:
        raise PipelineError(f"output: no step named {output!r}; the steps are {seen}", field="output")
    _check_rows_readers(steps, output)
    _check_cycles(steps, spec["steps"])
    return PipelineSpec(steps, output)


def _check_rows_readers(steps: list[Step], output: str) -> None:
    """Only a model's ``input`` reads a columns step, and a model's ``input`` reads only a columns step."""
    by_name = {s.name: s for s in steps}
    for i, step in enumerate(steps):
        for key, ref in _reads(step):
            gives_rows = by_name[ref].kind == "columns"
            if key == "input" and not gives_rows:
                raise PipelineError(
                    f"steps[{i}] ({step.name}).input: {ref!r} is a {by_name[ref].kind} step; a model's input is a "
                    "columns step ({columns: [NAME, ...]})",
                    index=i,
                    field="input",
                )
            if key != "input" and gives_rows:
                raise PipelineError(
                    f"steps[{i}] ({step.name}).{key}: {ref!r} gives rows, not answers; a model reads it with "
                    f"input: {ref}",
                    index=i,
                    field=key,
                )
    if by_name[output].kind == "columns":
        raise PipelineError(f"output: {output!r} gives rows, not answers; name a step that answers", field="output")


def _reads(step: Step) -> list[tuple[str, str]]:
    """The steps ``step`` reads, with the field that names each."""
    out = [("then", step.then), ("else", step.otherwise), ("of", step.of), ("input", step.input)]
    out += [("ensemble", m) for m in step.members]
    if step.condition is not None:
        out.append(("switch", step.condition.step))
    return [(key, ref) for key, ref in out if ref is not None]


def _check_cycles(steps: list[Step], raw: list) -> None:
    """A step may call a later one (a switch branch, an ensemble member), so the order alone does not
    rule out cycles: follow every reference and name the first step that reaches itself."""
    by_name = {s.name: s for s in steps}
    index = {s.name: i for i, s in enumerate(steps)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for key, ref in _reads(by_name[name]):
            if state.get(ref) == 1:
                loop = " -> ".join([*path[path.index(ref) :], ref]) if ref in path else f"{name} -> {ref}"
                raise PipelineError(
                    f"steps[{index[name]}] ({name}).{key}: {ref!r} makes a cycle ({loop}); a step cannot "
                    "depend on its own output",
                    index=index[name],
                    field=key,
                )
            if state.get(ref) is None:
                visit(ref, [*path, ref])
        state[name] = 2

    for s in steps:
        if s.name not in state:
            visit(s.name, [s.name])


def _parse_step(name: str, body: dict, where: str, seen: list[str], models: Sequence[str], raw: list) -> Step:
    later = [next(iter(e)) for e in raw if isinstance(e, dict) and e]  # every step's name

    def earlier(ref: Any, key: str) -> str:
        if ref not in seen:
            hint = " (a later step: a step reads only the steps before it, so no cycles)" if ref in later else ""
            raise PipelineError(f"{where}.{key}: no earlier step named {ref!r}{hint}; earlier: {seen}")
        return str(ref)

    def any_step(ref: Any, key: str) -> str:
        if ref not in later or ref == name:
            raise PipelineError(f"{where}.{key}: no other step named {ref!r}; the steps are {later}")
        return str(ref)

    if "model" in body:
        if body["model"] not in models:
            raise PipelineError(f"{where}.model: unknown model {body['model']!r}; known: {sorted(models)}")
        source = earlier(body["input"], "input") if body.get("input") is not None else None
        return Step(name, "model", model=str(body["model"]), input=source)
    if "function" in body:
        if not _FUNCTION.match(str(body["function"])):
            raise PipelineError(
                f"{where}.function: {body['function']!r} is not MODULE:NAME (a function NAME in MODULE.py, one file)"
            )
        of = earlier(body.get("of", seen[-1] if seen else None), "of")
        return Step(name, "function", function=str(body["function"]), of=of)
    if "columns" in body:
        select = body["columns"]
        if not isinstance(select, list) or not select or not all(isinstance(c, str) for c in select):
            raise PipelineError(f"{where}.columns: a list of the pipeline's input column names")
        if len(set(select)) != len(select):
            raise PipelineError(f"{where}.columns: a column is named twice in {select}")
        rename = body.get("rename") or {}
        if not isinstance(rename, dict) or not all(isinstance(v, str) for v in rename.values()):
            raise PipelineError(f"{where}.rename: a mapping {{column: new name}}")
        unknown = [c for c in rename if c not in select]
        if unknown:
            raise PipelineError(f"{where}.rename: {unknown} are not among the selected columns {select}")
        step = Step(name, "columns", select=list(select), rename={str(k): v for k, v in rename.items()})
        if len(set(step.column_names)) != len(select):
            raise PipelineError(f"{where}.rename: two columns would have the same name: {step.column_names}")
        return step
    if "switch" in body:
        m = _CONDITION.match(str(body["switch"]))
        if not m:
            raise PipelineError(
                f"{where}.switch: {body['switch']!r} is not a condition like 'screen.score > 0.8' "
                "(STEP.score|confidence|value|proba[K] OP NUMBER)"
            )
        ref, fld, index, op, number = m.groups()
        earlier(ref, "switch")
        for key in ("then", "else"):
            if key not in body:
                raise PipelineError(f"{where}: a switch needs 'then' and 'else' steps")
        cond = Condition(ref, "proba" if index else fld, int(index) if index else None, op, float(number))
        return Step(
            name,
            "switch",
            condition=cond,
            then=any_step(body["then"], "then"),
            otherwise=any_step(body["else"], "else"),
        )
    if "ensemble" in body:
        members = body["ensemble"]
        if not isinstance(members, list) or len(members) < 2:
            raise PipelineError(f"{where}.ensemble: a list of two or more steps")
        method = body.get("method", "mean")
        if method not in ("mean", "vote"):
            raise PipelineError(f"{where}.method: 'mean' (of probabilities) or 'vote', got {method!r}")
        return Step(name, "ensemble", members=[any_step(m, "ensemble") for m in members], method=method)
    if "map" in body:
        if not isinstance(body["map"], dict):
            raise PipelineError(f"{where}.map: a mapping {{from: to}}")
        of = earlier(body.get("of", seen[-1] if seen else None), "of")
        return Step(name, "map", mapping=dict(body["map"]), of=of)
    if "threshold" in body:
        labels = body.get("labels", [0, 1])
        if not isinstance(labels, list) or len(labels) != 2:
            raise PipelineError(f"{where}.labels: two labels [below, at or above]")
        of = earlier(body.get("of", seen[-1] if seen else None), "of")
        return Step(name, "threshold", threshold=float(body["threshold"]), of=of, labels=labels)
    raise PipelineError(
        f"{where}: unknown step kind {sorted(body)}; use model, switch, ensemble, map, threshold, function or columns"
    )


class PipelineExecutor:
    """Run a checked pipeline on a batch of rows, in process, with the given models."""

    def __init__(
        self,
        spec: PipelineSpec,
        models: dict[str, Any],
        input_columns: Sequence[str] | None = None,
        functions: dict[str, Callable] | None = None,
    ):
        self.spec = spec
        self.models = models
        self.functions = functions or {}
        lacking = [s.function for s in spec.steps if s.kind == "function" and s.function not in self.functions]
        if lacking:
            raise PipelineError(f"no code for the step functions {lacking}: load them with load_step_functions")
        self.steps = spec.by_name
        # columns step -> positions of its columns in the pipeline's input rows
        self.picks: dict[str, list[int]] = {}
        for s in spec.steps:
            if s.kind == "columns":
                names = list(input_columns or [])
                missing = [c for c in s.select if c not in names]
                if missing:
                    raise PipelineError(f"step {s.name!r}: the input has no columns {missing} (it has {names})")
                self.picks[s.name] = [names.index(c) for c in s.select]
        # steps that run only when a switch or an ensemble calls them
        self.called = {s.then for s in spec.steps if s.kind == "switch"} | {
            s.otherwise for s in spec.steps if s.kind == "switch"
        }
        for s in spec.steps:
            self.called.update(s.members)
        # only the steps the output reads, directly or through others, run
        self.needed = {spec.output}
        for s in reversed(spec.steps):
            if s.name in self.needed:
                self.needed.update(ref for _, ref in _reads(s))

    def run(
        self,
        batch: list,
        n: int,
        take: Callable[[list, np.ndarray], list] | None = None,
        on_step: Callable[[str, int, float], None] | None = None,
    ) -> StepOutput:
        """The output step's result for ``batch`` (``n`` rows); ``take(batch, index)`` selects rows;
        ``on_step(name, rows, seconds)`` hears of every step run (seconds include the steps it calls)."""
        take = take or (lambda rows, idx: [rows[i] for i in idx])
        done: dict[str, StepOutput] = {}
        self._on_step = on_step
        for step in self.spec.steps:
            if step.kind != "columns" and step.name in self.needed and step.name not in self.called:
                done[step.name] = self._run(step, batch, n, done, take)
        return done[self.spec.output]

    _on_step: Callable[[str, int, float], None] | None = None

    def _run(self, step: Step, batch: list, n: int, done: dict[str, StepOutput], take) -> StepOutput:
        if self._on_step is None:
            return self._run_step(step, batch, n, done, take)
        t0 = time.perf_counter()
        out = self._run_step(step, batch, n, done, take)
        self._on_step(step.name, n, time.perf_counter() - t0)
        return out

    def _run_step(self, step: Step, batch: list, n: int, done: dict[str, StepOutput], take) -> StepOutput:
        if step.kind == "model":
            model = self.models[str(step.model)]
            rows = batch if step.input is None else _columns_of(batch, self.picks[step.input])
            labels, proba = model.predict(rows, n)
            return StepOutput(
                list(labels), None if proba is None else np.asarray(proba), getattr(model, "classes", None)
            )
        if step.kind == "switch":
            assert step.condition is not None and step.then is not None and step.otherwise is not None
            ref = step.condition.step
            mask = _condition(
                step.condition, done[ref] if ref in done else self._run(self.steps[ref], batch, n, done, take)
            )
            out_labels: list = [None] * n
            out_proba: np.ndarray | None = None
            classes = None
            for branch, rows in ((step.then, np.flatnonzero(mask)), (step.otherwise, np.flatnonzero(~mask))):
                if not len(rows):
                    continue
                part = self._run(self.steps[branch], take(batch, rows), len(rows), done, take)
                for i, label in zip(rows, part.labels):
                    out_labels[i] = label
                if part.proba is not None:
                    if out_proba is None:
                        out_proba = np.full((n, part.proba.shape[1]), np.nan)
                    out_proba[rows] = part.proba
                classes = classes or part.classes
            return StepOutput(out_labels, out_proba, classes)
        if step.kind == "ensemble":
            parts = [self._run(self.steps[m], batch, n, done, take) for m in step.members]
            if step.method == "mean":
                if any(p.proba is None for p in parts):
                    raise PipelineError(f"ensemble {step.name}: method mean needs probabilities from every member")
                classes = parts[0].classes
                if any(p.classes != classes for p in parts):
                    raise PipelineError(f"ensemble {step.name}: the members' classes differ")
                mean = np.mean(np.stack([np.asarray(p.proba) for p in parts]), axis=0)
                assert classes is not None
                return StepOutput([classes[k] for k in mean.argmax(axis=1)], mean, classes)
            votes = []
            for row in zip(*(p.labels for p in parts)):
                counts = {v: row.count(v) for v in row}
                best = max(counts.values())
                votes.append(next(v for v in row if counts[v] == best))
            return StepOutput(votes, None, parts[0].classes)
        of = str(step.of)
        src = done[of] if of in done else self._run(self.steps[of], batch, n, done, take)
        if step.kind == "map":
            return StepOutput([step.mapping.get(v, v) for v in src.labels], src.proba, None)
        if step.kind == "function":
            return _call(step, self.functions[str(step.function)], src, n)
        scores = _field(src, "score", None)
        return StepOutput([step.labels[1] if s >= step.threshold else step.labels[0] for s in scores], src.proba)


def _call(step: Step, fn: Callable, src: StepOutput, n: int) -> StepOutput:
    """A user step function on an earlier step's answers: new labels (and probabilities), one per row."""
    try:
        got = fn(list(src.labels), src.proba, src.classes)
    except Exception as exc:  # noqa: BLE001 - the user's code: say whose it is
        raise PipelineError(f"step {step.name!r}: {step.function} raised {type(exc).__name__}: {exc}") from exc
    labels, proba = got if isinstance(got, tuple) else (got, src.proba)
    labels = list(labels)
    if len(labels) != n:
        raise PipelineError(f"step {step.name!r}: {step.function} returned {len(labels)} labels for {n} rows")
    proba = None if proba is None else np.asarray(proba, dtype=float)
    if proba is not None and proba.shape[0] != n:
        raise PipelineError(f"step {step.name!r}: {step.function} returned probabilities for {proba.shape[0]} rows")
    return StepOutput(labels, proba, None)


def load_step_functions(sources: dict[str, str], wanted: Sequence[str], where: str = "steps") -> dict[str, Callable]:
    """``MODULE:NAME`` -> the function, from each module's source text (run as the module ``MODULE`` from
    ``WHERE/MODULE.py``; nothing is unpickled)."""
    import types

    modules: dict[str, types.ModuleType] = {}
    out: dict[str, Callable] = {}
    for ref in wanted:
        module, name = ref.split(":", 1)
        if module not in sources:
            raise PipelineError(f"{ref}: the source of {module}.py is not there ({where}/{module}.py)")
        if module not in modules:
            mod = types.ModuleType(module)
            mod.__file__ = f"{where}/{module}.py"
            try:
                exec(compile(sources[module], mod.__file__, "exec"), mod.__dict__)  # noqa: S102 - the user's own source
            except Exception as exc:  # noqa: BLE001 - the user's code
                raise PipelineError(f"{module}.py cannot be loaded: {type(exc).__name__}: {exc}") from exc
            modules[module] = mod
        fn = getattr(modules[module], name, None)
        if not callable(fn):
            raise PipelineError(f"{ref}: {module}.py has no function {name!r}")
        out[ref] = fn
    return out


def _columns_of(batch: Any, positions: list[int]) -> Any:
    """The batch's rows with only the columns at ``positions``, in that order (a 2-D array stays one)."""
    if isinstance(batch, np.ndarray):
        return batch[:, positions]
    return [[row[i] for i in positions] for row in batch]


def _field(out: StepOutput, name: str, index: int | None) -> np.ndarray:
    if name == "value":
        return np.asarray(out.labels, dtype=object)
    if out.proba is None:
        raise PipelineError(f"'{name}' needs class probabilities, and that step gives none")
    if name == "score":
        return out.proba[:, -1]
    if name == "confidence":
        return out.proba.max(axis=1)
    assert index is not None
    return out.proba[:, index]


def _condition(cond: Condition, out: StepOutput) -> np.ndarray:
    values = _field(out, cond.field, cond.index)
    return np.asarray([bool(_OPS[cond.op](v, cond.number)) for v in values], dtype=bool)
