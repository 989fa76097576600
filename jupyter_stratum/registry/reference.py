"""What drift detection needs to know about a version's training data: its reference statistics.

Per numeric feature a fixed-size random sample of its values (sorted; the two-sample KS test
compares served rows with it), per categorical feature the frequency of each category (the
chi-squared test), and the same for the model's predictions. Stored with the version
(``ModelVersion.reference``) and in a bundle's manifest (``"reference"``), where the runtime
reads it as plain JSON. Computed by :func:`jupyter_stratum.supervise.reference.reference_statistics`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: the JSON shape's version (the runtime refuses shapes it does not know)
REFERENCE_FORMAT = 1
NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass
class FeatureReference:
    """One column: ``sample`` (numeric, sorted) or ``frequencies`` (categorical, category -> count)."""

    name: str
    kind: str  # numeric | categorical
    count: int  # non-missing values seen
    missing: int = 0
    sample: list[float] | None = None
    frequencies: dict[str, int] | None = None

    @classmethod
    def from_dict(cls, data: dict) -> FeatureReference:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            count=int(data.get("count", 0)),
            missing=int(data.get("missing", 0)),
            sample=[float(v) for v in data["sample"]] if data.get("sample") is not None else None,
            frequencies={str(k): int(v) for k, v in data["frequencies"].items()}
            if data.get("frequencies") is not None
            else None,
        )


@dataclass
class ReferenceStats:
    """The reference of one model version: its input columns and its predictions."""

    n_rows: int
    source: str  # which rows: "training", "holdout", ...
    features: list[FeatureReference] = field(default_factory=list)
    prediction: FeatureReference | None = None
    format: int = REFERENCE_FORMAT

    def feature(self, name: str) -> FeatureReference:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"no reference for feature {name!r}; it has {', '.join(f.name for f in self.features)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def coerce(cls, value: Any) -> ReferenceStats | None:
        """From a stored dict (or one already typed); None stays None."""
        if value is None or isinstance(value, ReferenceStats):
            return value
        if not isinstance(value, dict):
            raise TypeError(f"reference statistics are a mapping, got {type(value).__name__}")
        return cls(
            n_rows=int(value.get("n_rows", 0)),
            source=str(value.get("source", "")),
            features=[FeatureReference.from_dict(f) for f in value.get("features") or []],
            prediction=FeatureReference.from_dict(value["prediction"]) if value.get("prediction") else None,
            format=int(value.get("format", REFERENCE_FORMAT)),
        )
