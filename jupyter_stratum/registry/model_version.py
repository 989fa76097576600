"""The records the registry hands out: one :class:`ModelVersion` per registered model
version, one :class:`ModelSummary` per model name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..jsonsafe import to_jsonable
from .reference import ReferenceStats
from .refs import format_ref

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Registry


@dataclass
class Sample:
    """A few holdout rows as the model saw them (JSON records) and the model's own answers to them.

    Kept with the version at training time; a bundle checks its runtime against it."""

    records: list[dict] = field(default_factory=list)
    expected: list = field(default_factory=list)

    @classmethod
    def coerce(cls, value: Any) -> Sample | None:
        """A :class:`Sample` from a stored dict (or one already typed); None stays None."""
        if value is None or isinstance(value, Sample):
            return value
        if not isinstance(value, dict):
            raise TypeError(f"a sample is a mapping with 'records' and 'expected', got {type(value).__name__}")
        return cls(records=list(value.get("records") or []), expected=list(value.get("expected") or []))


@dataclass
class ModelVersion:
    """One registered version of a model, with its lineage."""

    name: str
    version: int
    created_at: str  # ISO-8601, UTC
    author: str
    host: str
    flavor: str
    algorithm: str
    params: dict = field(default_factory=dict)
    task: str | None = None
    metric: str | None = None
    cv_score: float | None = None
    holdout_score: float | None = None
    cv_scores: dict = field(default_factory=dict)  # metric -> {"mean", "std", "folds": [...]}
    holdout_scores: dict = field(default_factory=dict)  # metric -> float
    spec_yaml: str = ""
    data_fingerprint: str = ""
    input_schema: dict = field(default_factory=dict)
    classes: list | None = None
    library_versions: dict = field(default_factory=dict)
    duration_s: float = 0.0
    artifact: str = ""  # path relative to the registry root
    sha256: str = ""
    extra: dict = field(default_factory=dict)
    sample: Sample | None = None
    reference: ReferenceStats | None = None  # what drift detection compares served rows with

    def __post_init__(self) -> None:
        self.sample = Sample.coerce(self.sample)
        self.reference = ReferenceStats.coerce(self.reference)

    #: the registry this record came from: not a field (a ClassVar to dataclasses, set per
    #: instance by :meth:`from_dict`), so that ``dataclasses.asdict``, equality and repr
    #: see only the record
    _registry: ClassVar[Registry | None] = None

    @property
    def ref(self) -> str:
        """``"name@version"``, accepted by :func:`jupyter_stratum.load`."""
        return format_ref(self.name, self.version)

    @property
    def artifact_path(self) -> Path:
        """Absolute path of the artifact file."""
        if self._registry is None:
            raise ValueError(f"{self.ref} is not attached to a registry; use Registry.get() to obtain it.")
        return self._registry.store.local_path(self.artifact)

    def load(self) -> Any:
        """Load the model after checking the artifact's sha256."""
        if self._registry is None:
            raise ValueError(f"{self.ref} is not attached to a registry; use Registry.get() to obtain it.")
        return self._registry.load_version(self)

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON values (no registry handle)."""
        return {f.name: to_jsonable(getattr(self, f.name)) for f in fields_of_record()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], registry: Registry | None = None) -> ModelVersion:
        known = {f.name for f in fields_of_record()}
        mv = cls(**{k: v for k, v in data.items() if k in known})
        object.__setattr__(mv, "_registry", registry)  # an instance attribute shadowing the ClassVar
        return mv


def fields_of_record() -> tuple[dataclasses.Field, ...]:
    """The stored fields of :class:`ModelVersion`."""
    return dataclasses.fields(ModelVersion)


def lineage_fields() -> list[str]:
    """The fields a person reads about a version (the sidebar's detail, in order): all but the raw
    sample rows, which are for the bundle builder, and the reference statistics, which are for drift."""
    return [f.name for f in fields_of_record() if f.name not in ("sample", "reference")]


#: fields that register() sets itself; every other field may come from ``lineage``
SYSTEM_FIELDS = frozenset({"name", "version", "created_at", "artifact", "sha256", "flavor"})


@dataclass
class ModelSummary:
    """One line of ``%stratum models``: a model name and its latest version."""

    name: str
    latest_version: int
    n_versions: int
    task: str | None
    algorithm: str
    metric: str | None
    cv_score: float | None
    holdout_score: float | None
    updated_at: str

    @property
    def ref(self) -> str:
        return format_ref(self.name, self.latest_version)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(dataclasses.asdict(self))
