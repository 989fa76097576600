"""Typed deployment records: what a deploy / rollback / undeploy did on each host, as
the registry stores it, and the one rule for "the newest live deployment of NAME".

The registry stores each record as JSON (the shape the server sends to the sidebar):
``id, time, model, action, status, changed, hosts[{host, address, port, status,
serving, version, changed, error}], inventory, limit, project, duration_s, user``, plus
whatever else the caller recorded (``release`` for a deploy). :class:`Deployment` reads
that shape; keys it does not know stay in :attr:`Deployment.extra`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: the actions after which hosts serve the model
SERVING_ACTIONS = ("deploy", "rollback")


def host_failed(action: str, status: str) -> bool:
    """Whether a host with ``status`` after ``action`` did not do what was asked: failed,
    unreachable, not reached (a halted rollout), or (for a deploy) went back to its
    previous release. ``rolled_back`` is the success of a rollback."""
    return status in ("failed", "unreachable", "not_reached") or (status == "rolled_back" and action != "rollback")


def overall_status(action: str, statuses: Iterable[str]) -> str:
    """``ok`` when no host failed, ``failed`` when every host did, else ``partial``."""
    states = list(statuses)
    bad = sum(host_failed(action, s) for s in states)
    return "ok" if not bad else ("failed" if bad == len(states) else "partial")


@dataclass
class HostResult:
    """Where one host stands after an action."""

    host: str
    address: str
    port: int
    status: str  # changed | unchanged | rolled_back | failed | unreachable | not_reached | removed | checked
    serving: str = ""  # release id serving now ("" when none)
    version: str = ""  # model version serving now
    changed: int = 0
    error: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @classmethod
    def from_record(cls, row: Mapping[str, Any]) -> HostResult:
        """A host entry of a stored record; fields a record lacks take their defaults."""
        return cls(
            host=str(row.get("host", "")),
            address=str(row.get("address", "")),
            port=int(row.get("port") or 0),
            status=str(row.get("status", "")),
            serving=str(row.get("serving") or ""),
            version=str(row.get("version") or ""),
            changed=int(row.get("changed") or 0),
            error=str(row.get("error") or ""),
        )

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Deployment:
    """One recorded deploy / rollback / undeploy of a model version."""

    id: int
    model: str  # NAME@VERSION
    model_name: str
    model_version: int
    action: str = ""  # deploy | rollback | undeploy ("" for records written by other tools)
    status: str = ""  # ok | partial | failed
    changed: bool = False
    hosts: list[HostResult] = field(default_factory=list)
    inventory: str = ""
    limit: str | None = None
    project: str = ""
    duration_s: float = 0.0
    user: str = ""
    time: str = ""  # ISO-8601, UTC, when it was recorded
    updated_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # any other recorded keys (e.g. release)

    @property
    def serving_hosts(self) -> list[HostResult]:
        """Hosts that serve a release of the model after this action."""
        return [h for h in self.hosts if h.serving]

    @property
    def live(self) -> bool:
        """A deploy or rollback after which at least one host serves the model."""
        return self.action in SERVING_ACTIONS and bool(self.serving_hosts)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Deployment:
        """Read a record as :meth:`Registry.list_deployments` returns it."""
        known = {f.name for f in fields(cls)} | {"created_at", "model_ref"}
        return cls(
            id=int(record["id"]),
            model=str(record.get("model") or record.get("model_ref") or ""),
            model_name=str(record["model_name"]),
            model_version=int(record["model_version"]),
            action=str(record.get("action") or ""),
            status=str(record.get("status") or ""),
            changed=bool(record.get("changed", False)),
            hosts=[HostResult.from_record(h) for h in record.get("hosts") or [] if isinstance(h, Mapping)],
            inventory=str(record.get("inventory") or ""),
            limit=record.get("limit"),
            project=str(record.get("project") or ""),
            duration_s=float(record.get("duration_s") or 0.0),
            user=str(record.get("user") or ""),
            time=str(record.get("time") or record.get("created_at") or ""),
            updated_at=str(record.get("updated_at") or ""),
            extra={k: v for k, v in record.items() if k not in known},
        )


def newest_live(deployments: Iterable[Deployment], name: str | None = None) -> Deployment | None:
    """The newest live deployment of model ``name`` (of any model when None) among
    ``deployments`` (oldest first, as the registry lists them).

    Going back from the newest record of a model: an undeploy ends it (nothing before it
    is live); a deploy or rollback with a host serving a release is the answer; one
    that left no host serving (a failed first deploy) is passed over.
    """
    ended: set[str] = set()
    for dep in reversed(list(deployments)):
        if name is not None and dep.model_name != name:
            continue
        if dep.model_name in ended:
            continue
        if dep.action == "undeploy":
            ended.add(dep.model_name)
        elif dep.live:
            return dep
    return None
