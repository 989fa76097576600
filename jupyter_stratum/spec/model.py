"""`PipelineSpec`: the one description of a pipeline every front-end builds.

The body of a ``%%stratum train`` cell is YAML::

    data: df                       # notebook DataFrame | csv/parquet path | sklearn:breast_cancer
    target: label
    split: {test_size: 0.2, cv: 5, seed: 0}
    preprocess: [standard_scaler]
    models:
      - logistic_regression: {C: [0.1, 1, 10]}   # a list is a search space
      - svc: {C: loguniform(0.1, 100)}           # so is a distribution (random, halving)
      - random_forest: {n_estimators: 200}
      - gradient_boosting
    metric: roc_auc
    search: {strategy: halving, candidates: 100, factor: 3}   # default: grid
    constraints: {latency_ms: 1.0, size_mb: 20}                # optional: the edge profile's limits

Every error names the line and the field and says what would be valid.
``parse_spec(spec.to_yaml()) == spec`` holds for every valid spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Task = Literal["classification", "regression"]
_MODEL_KEYS = {"algorithm", "params", "resources", "label"}


# The data sets a spec can name as ``data: sklearn:<name>`` (loaded by ``training.data``).
# and the task each one is for, so a spec naming one is checked for its task before anything loads.
SKLEARN_DATASETS: dict[str, Task] = {
    "breast_cancer": "classification",
    "iris": "classification",
    "wine": "classification",
    "digits": "classification",
    "diabetes": "regression",
}


def known_task(spec: PipelineSpec) -> Task | None:
    """The task a spec is for without loading its data: the one it states, else a bundled data set's."""
    if spec.task:
        return spec.task
    prefix, _, name = spec.data.partition(":")
    return SKLEARN_DATASETS.get(name) if prefix == "sklearn" else None


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
    """A candidate algorithm; a list value or a distribution (``loguniform(1e-3, 1e2)``) in ``params`` is
    a search space."""

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


_RESOURCE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Search(_Strict):
    """How candidates are chosen and trained: every combination (grid), ``candidates`` draws (random),
    or draws trained by successive halving over a resource (rows, or a parameter such as n_estimators)."""

    strategy: Literal["grid", "random", "halving"] = Field(
        "grid", description="grid: every combination of list values; random: sample; halving: sample, then halve"
    )
    candidates: int | None = Field(
        None, ge=1, le=100_000, description="configurations to draw (random default 10; halving default: exhaust)"
    )
    factor: float = Field(3, gt=1, le=100, description="halving: 1/factor of the candidates go on to each next rung")
    resource: str = Field(
        "auto",
        description="halving: n_samples (rows), a parameter such as n_estimators, or auto (trees for ensembles "
        "with warm_start, epochs for Keras models, rows for the rest)",
    )
    min_resources: int | Literal["smallest", "exhaust"] = Field(
        "smallest", description="halving: the resource at the first rung (scikit-learn's min_resources)"
    )
    budget: int | None = Field(
        None, ge=1, description="halving: the most resource a configuration gets (default: all training rows)"
    )
    mode: Literal["async", "sync"] = Field(
        "async", description="halving: async promotes without waiting for a rung; sync is scikit-learn's order"
    )
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="seed of the draws (default: split.seed)")

    @field_validator("resource")
    @classmethod
    def _resource_name(cls, value: str):
        if not _RESOURCE_NAME.match(value):
            raise ValueError(
                f"resource must be auto, n_samples or a parameter name such as n_estimators, got {value!r}"
            )
        return value

    @field_validator("min_resources")
    @classmethod
    def _positive_min(cls, value):
        if isinstance(value, int) and value < 1:
            raise ValueError(f"min_resources must be >= 1, 'smallest' or 'exhaust', got {value}")
        return value

    @model_validator(mode="after")
    def _fits_strategy(self):
        if self.strategy == "grid":
            extra = [f for f in ("candidates", "budget") if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"{', '.join(extra)} applies to strategy random or halving; a grid trains every combination. "
                    "Set strategy: random or halving, or remove it"
                )
        return self

    def to_dict(self) -> dict:
        return self.model_dump(exclude_defaults=True)


class Constraints(_Strict):
    """Limits of the edge profile the model will be deployed to: each finalist's single-row latency and
    serialized size are measured, and the best that fits is chosen."""

    latency_ms: float | None = Field(None, gt=0, description="most milliseconds for one row's prediction")
    size_mb: float | None = Field(None, gt=0, description="most megabytes of the serialized model")

    @model_validator(mode="after")
    def _some_limit(self):
        if self.latency_ms is None and self.size_mb is None:
            raise ValueError("constraints needs latency_ms, size_mb or both, e.g. {latency_ms: 1.0, size_mb: 20}")
        return self


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
    search: Search = Field(default_factory=Search, description="grid, random or halving search")
    constraints: Constraints | None = Field(None, description="latency and size limits of the deployment target")

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
        search = self.search.to_dict()
        if search:
            out["search"] = search
        if self.constraints is not None:
            out["constraints"] = self.constraints.model_dump(exclude_none=True)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    @classmethod
    def from_yaml(cls, text: str) -> PipelineSpec:
        from .parse import parse_spec

        return parse_spec(text)


def summarize_issues(issues: list[SpecIssue]) -> str:
    """The message of a :class:`SpecError` that lists ``issues``."""
    head = "Invalid pipeline spec:" if len(issues) == 1 else f"Invalid pipeline spec ({len(issues)} problems):"
    return head + "\n" + "\n".join(f"  {i}" for i in issues)
