"""``policy.yaml``: what the supervisor watches and what it does about it.

```yaml
watch: {every: 30s, window: 500}               # poll interval; rows per host window
drift: {features_share: 0.3, for: 2}            # alarm when >= 30% of features drift in 2 polls running
accuracy: {metric: accuracy, below: 0.9}        # from labels sent back to the hosts
retrain: {data: [training, captured]}
promote: {shadow: 1 host, canary: 1 host, min_gain: 0.01, then: all}   # 0 hosts skips that stage
approve: auto                                   # or manual: stop before promotion
```

Every error names its line and field (``policy.yaml line 3, drift.features_share: ...``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ..errors import SuperviseError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_HOSTS = re.compile(r"^\s*(-?\d+)\s*(?:hosts?)?\s*$")


def parse_duration(value: object) -> float:
    """``30s``, ``5m``, ``1h``, ``250ms`` or a number of seconds -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration: write e.g. 30s, 5m, 1h or 250ms")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than 0")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Watch(_Strict):
    every: float = 30.0  # seconds
    window: int = Field(500, ge=10)

    _every = field_validator("every", mode="before")(lambda cls, v: parse_duration(v))


class DriftRule(_Strict):
    features_share: float = Field(0.3, gt=0, le=1)
    for_: int = Field(2, ge=1, alias="for")


class AccuracyRule(_Strict):
    metric: Literal["accuracy", "mean_absolute_error"] = "accuracy"
    below: float | None = None
    above: float | None = None  # for error metrics: alarm when the error rises above
    min_labels: int = Field(50, ge=1)


DataSource = Literal["training", "captured"]


def _both_sources() -> list[DataSource]:
    return ["training", "captured"]


class Retrain(_Strict):
    data: list[DataSource] = Field(default_factory=_both_sources)


class Promote(_Strict):
    #: hosts of each stage; 0 skips the stage (see :mod:`.promotion`)
    shadow: int = 1
    canary: int = 1
    min_gain: float = 0.01
    then: Literal["all"] = "all"
    #: the last stage's waves (the deploy API's ``waves``: "1,50%,100%"); empty: every host at once
    waves: str | None = None

    @field_validator("shadow", "canary", mode="before")
    @classmethod
    def _hosts(cls, v: object, info: ValidationInfo) -> int:
        """A whole number of hosts (``1``, ``'2 hosts'``); ``0`` skips the stage."""
        how = f"write a number of hosts (a whole number, e.g. 1 or '2 hosts'; 0 skips the {info.field_name} stage)"
        n: object = v
        if isinstance(v, str):
            m = _HOSTS.match(v)
            if not m:
                raise ValueError(f"{v!r}: {how}")
            n = int(m.group(1))
        elif isinstance(v, float) and v.is_integer():
            n = int(v)
        if isinstance(n, bool) or not isinstance(n, int):
            raise ValueError(f"{v!r} is not a whole number: {how}")
        if n < 0:
            raise ValueError(f"{v!r} is negative: {how}")
        return n


class Policy(_Strict):
    watch: Watch = Field(default_factory=Watch)
    drift: DriftRule = Field(default_factory=DriftRule)
    accuracy: AccuracyRule | None = None
    retrain: Retrain = Field(default_factory=Retrain)
    promote: Promote = Field(default_factory=Promote)
    approve: Literal["auto", "manual"] = "auto"


def _line_of(text: str, loc: tuple) -> int | None:
    from ..spec.parse import LineMap

    lines = LineMap(text)
    path = tuple("for" if p == "for_" else p for p in loc)
    while path:
        found = lines.line(path)
        if found is not None:
            return found
        path = path[:-1]
    return None


def parse_policy(text: str, source: str = "policy.yaml") -> Policy:
    """A :class:`Policy` from YAML text; raises :class:`SuperviseError` naming each bad line and field."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SuperviseError(f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    if not isinstance(data, dict):
        raise SuperviseError(f"{source}: a policy is a mapping with watch, drift, accuracy, retrain, promote, approve.")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            line = _line_of(text, loc)
            field = ".".join(str(p) for p in loc).replace("for_", "for") or "(top level)"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                owner = Policy if len(loc) == 1 else _owner(loc[:-1])
                allowed = ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else ""
                message = f"unknown field; the fields here are {allowed}"
            problems.append(f"{source} line {line if line is not None else '?'}, {field}: {message}")
        raise SuperviseError("The policy has problems:\n" + "\n".join(problems)) from None


def _owner(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Policy
    for part in loc:
        if model is None:
            return None
        field = model.model_fields.get(str(part))
        ann = field.annotation if field is not None else None
        model = next(
            (a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
    return model


def load_policy(path: str | Path) -> Policy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuperviseError(f"Cannot read the policy {p}: {exc}.") from None
    return parse_policy(text, source=p.name)
