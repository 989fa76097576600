"""Rollout records: a deploy in waves, kept in the registry and updated as it goes.

A rollout names the hosts, the wave each host is in, the gate every wave must pass, and
each host's state (``pending`` → ``running`` → ``done`` | ``failed`` | ``rolled_back`` |
``unreachable``; ``not_reached`` when the rollout stopped before the host's wave) with the
release it served before and the one it serves now. The record is written when the rollout
starts and after every host finishes, so a rollout whose process died can be resumed from
any machine that opens the same registry (``stratum rollout resume NAME``): finished hosts
are not redone.

The table (``rollouts``: id, model_name, state, created_at, updated_at, record JSON) is
created by the index's schema migration 3; this module is the only one that reads or
writes it.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import RegistryError

#: host states; the last four are final
HOST_STATES = ("pending", "running", "done", "failed", "rolled_back", "unreachable", "not_reached")
#: rollout states: ``running`` while a process drives it (``interrupted`` when that process is
#: gone, see :attr:`Rollout.live_state`), then one of the others
ROLLOUT_STATES = ("running", "aborting", "done", "partial", "failed", "halted", "aborted")
FINISHED = ("done", "partial", "failed", "halted", "aborted")


@dataclass
class RolloutHost:
    """Where one host of a rollout stands."""

    host: str
    wave: int  # 1-based
    address: str = ""
    port: int = 0
    state: str = "pending"
    status: str = ""  # the deploy's own word for it: changed | unchanged | rolled_back | failed | ...
    from_release: str = ""
    from_version: str = ""
    release: str = ""  # serving now ("" when nothing serves)
    version: str = ""
    changed: int = 0
    step: str = ""  # the step it is at (or ended at)
    seconds: float = 0.0  # time spent on it in its wave
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state not in ("pending", "running")


@dataclass
class WaveGate:
    """What a wave must show over ``soak_s`` seconds after its hosts pass their checks."""

    soak_s: float = 0.0
    max_error_rate: float = 0.01  # 0..1, errors / prediction requests over the soak
    max_p99_ms: float = 250.0


@dataclass
class Rollout:
    """One deploy of ``model`` (NAME@VERSION) in waves, as the registry keeps it."""

    model: str
    release: str
    inventory: str
    hosts: list[RolloutHost]
    waves: list[int | str] = field(default_factory=list)  # as asked, e.g. [1, "25%", "100%"]
    max_fail_percent: int | None = None
    gate: WaveGate = field(default_factory=WaveGate)
    limit: str | None = None
    port: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # online, wheelhouse, pipelining, bundle
    state: str = "running"
    reason: str = ""  # why it halted / was aborted
    wave_results: list[dict[str, Any]] = field(default_factory=list)  # per soaked wave: gate figures
    completed_waves: list[int] = field(default_factory=list)  # waves run, checked and gated
    deployment_id: int | None = None
    user: str = ""
    owner: str = ""  # host:pid of the process driving it
    id: int | None = None
    created_at: str = ""
    updated_at: str = ""

    @property
    def name(self) -> str:
        return self.model.split("@", 1)[0]

    @property
    def n_waves(self) -> int:
        return max((h.wave for h in self.hosts), default=0)

    def wave_hosts(self, wave: int) -> list[RolloutHost]:
        return [h for h in self.hosts if h.wave == wave]

    def host(self, name: str) -> RolloutHost:
        for h in self.hosts:
            if h.host == name:
                return h
        raise RegistryError(f"Host {name!r} is not part of rollout #{self.id}.")

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in HOST_STATES}
        for h in self.hosts:
            out[h.state] = out.get(h.state, 0) + 1
        return {k: v for k, v in out.items() if v}

    @property
    def owner_alive(self) -> bool:
        """Whether the process driving it still runs (on this machine; another machine's is assumed alive)."""
        if not self.owner or ":" not in self.owner:
            return False
        machine, _, pid = self.owner.rpartition(":")
        if machine != socket.gethostname():
            return True
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True

    @property
    def live_state(self) -> str:
        """:attr:`state`, except ``interrupted`` for a running rollout whose process is gone."""
        if self.state in ("running", "aborting") and not self.owner_alive:
            return "interrupted"
        return self.state

    def to_record(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("id", "created_at", "updated_at"):
            d.pop(k)
        return d

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Rollout:
        rec = json.loads(row["record"]) if isinstance(row.get("record"), str) else dict(row["record"])
        known_host = {f.name for f in fields(RolloutHost)}
        known_gate = {f.name for f in fields(WaveGate)}
        hosts = [RolloutHost(**{k: v for k, v in h.items() if k in known_host}) for h in rec.pop("hosts", [])]
        gate = WaveGate(**{k: v for k, v in (rec.pop("gate", None) or {}).items() if k in known_gate})
        known = {f.name for f in fields(cls)} - {"hosts", "gate", "id", "created_at", "updated_at"}
        return cls(
            hosts=hosts,
            gate=gate,
            id=int(row["id"]),
            created_at=str(row["created_at"]),
            updated_at=str(row["updated_at"]),
            **{k: v for k, v in rec.items() if k in known},
        )


def owner_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> str:
    from .registry import now_utc

    return now_utc()


def save_rollout(registry, rollout: Rollout) -> Rollout:
    """Insert ``rollout`` (no id yet) or replace its record; sets id and times."""
    now = _now()
    record = json.dumps(rollout.to_record())
    with registry.index.transaction() as conn:
        if rollout.id is None:
            cur = conn.execute(
                "INSERT INTO rollouts (model_name, state, created_at, updated_at, record) VALUES (?, ?, ?, ?, ?)",
                (rollout.name, rollout.state, now, now, record),
            )
            rollout.id, rollout.created_at = int(cur.lastrowid or 0), now
        else:
            stored = conn.execute("SELECT state FROM rollouts WHERE id = ?", (rollout.id,)).fetchone()
            if stored is not None and stored["state"] == "aborting" and rollout.state == "running":
                # `stratum rollout abort` asked meanwhile: the driver sees it at the next wave
                rollout.state = "aborting"
                record = json.dumps(rollout.to_record())
            cur = conn.execute(
                "UPDATE rollouts SET state = ?, updated_at = ?, record = ? WHERE id = ?",
                (rollout.state, now, record, rollout.id),
            )
            if cur.rowcount != 1:
                raise RegistryError(f"There is no rollout #{rollout.id}; list them with `stratum rollout status`.")
    rollout.updated_at = now
    return rollout


def get_rollout(registry, rollout_id: int) -> Rollout:
    with registry.index.connect() as conn:
        row = conn.execute("SELECT * FROM rollouts WHERE id = ?", (int(rollout_id),)).fetchone()
    if row is None:
        raise RegistryError(f"There is no rollout #{rollout_id}; `stratum rollout status NAME` shows a model's.")
    return Rollout.from_row(dict(row))


def rollouts(registry, name: str | None = None) -> list[Rollout]:
    """Rollouts oldest first (of model ``name`` when given)."""
    with registry.index.connect() as conn:
        if name is None:
            rows = conn.execute("SELECT * FROM rollouts ORDER BY id").fetchall()
        else:
            rows = conn.execute("SELECT * FROM rollouts WHERE model_name = ? ORDER BY id", (name,)).fetchall()
    return [Rollout.from_row(dict(r)) for r in rows]


def latest_rollout(registry, name: str) -> Rollout:
    """The newest rollout of model ``name`` (``NAME``, ``NAME@V`` or ``#ID``)."""
    if name.startswith("#") and name[1:].isdigit():
        return get_rollout(registry, int(name[1:]))
    found = rollouts(registry, name.split("@", 1)[0])
    if not found:
        raise RegistryError(
            f"No rollout of {name!r} is recorded in {registry.root}; `stratum deploy {name} --edge INVENTORY` "
            "starts one."
        )
    return found[-1]


def set_state(registry, rollout_id: int, state: str, reason: str = "") -> Rollout:
    """Change only the state (and reason) of a rollout, in one transaction (``abort``)."""
    with registry.index.transaction() as conn:
        row = conn.execute("SELECT * FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
        if row is None:
            raise RegistryError(f"There is no rollout #{rollout_id}.")
        rec = json.loads(row["record"])
        rec["state"] = state
        if reason:
            rec["reason"] = reason
        conn.execute(
            "UPDATE rollouts SET state = ?, updated_at = ?, record = ? WHERE id = ?",
            (state, _now(), json.dumps(rec), rollout_id),
        )
    return get_rollout(registry, rollout_id)


def current_state(registry, rollout_id: int) -> str:
    """The stored state (a process driving the rollout checks it for ``aborting``)."""
    with registry.index.connect() as conn:
        row = conn.execute("SELECT state FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
    return str(row["state"]) if row is not None else ""
