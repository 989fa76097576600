"""Typed records of a model's history: its aliases (``churn@champion``) and its append-only
event log (alias moves, registrations, drift alarms, decisions of the supervisor).

The registry stores both; :class:`~jupyter_stratum.registry.Registry` hands them out as
these dataclasses, whatever index keeps them (SQLite here, a team service later)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import RegistryError
from ..jsonsafe import to_jsonable

ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
ALIAS_RULE = "letters, digits, '-' and '_', starting with a letter, at most 64 characters, not 'latest'"
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")

#: the kinds the registry itself writes; other writers (the supervisor) add their own
ALIAS_SET = "alias_set"
ALIAS_MOVED = "alias_moved"
ALIAS_DELETED = "alias_deleted"
REGISTERED = "registered"


def validate_alias(alias: object) -> str:
    """Return ``alias`` if it may name a version, else raise :class:`RegistryError`."""
    if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias) or alias == "latest":
        raise RegistryError(f"{alias!r} is not a valid alias: use {ALIAS_RULE} (for example 'champion').")
    return alias


def validate_kind(kind: object) -> str:
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise RegistryError(
            f"{kind!r} is not a valid event kind: use lower-case letters, digits, '_' and '.', "
            "starting with a letter (for example 'drift_detected')."
        )
    return kind


@dataclass(frozen=True)
class Alias:
    """``name@alias`` points at ``version`` since ``updated_at`` (set by ``updated_by``)."""

    name: str
    alias: str
    version: int
    updated_at: str
    updated_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.alias}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelEvent:
    """One entry of a model's event log. ``id`` grows with every event of the registry."""

    id: int
    name: str
    kind: str
    time: str  # ISO-8601, UTC
    actor: str
    version: int | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))

    @classmethod
    def from_row(cls, row: dict) -> ModelEvent:
        return cls(
            id=int(row["id"]),
            name=str(row["name"]),
            kind=str(row["kind"]),
            time=str(row["time"]),
            actor=str(row["actor"]),
            version=int(row["version"]) if row.get("version") is not None else None,
            details=dict(row.get("details") or {}),
        )
