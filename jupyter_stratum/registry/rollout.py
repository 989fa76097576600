"""Rollout records: a deploy in waves, kept in the registry and updated as it goes.

A rollout names the hosts, the wave each host is in, the gate every wave must pass, and
each host's state (``pending`` → ``running`` → ``done`` | ``failed`` | ``rolled_back`` |
``unreachable``; ``not_reached`` when the rollout stopped before the host's wave) with the
release it served before and the one it serves now. The record is written when the rollout
starts and after every host finishes, so a rollout whose process died can be resumed from
any machine that opens the same registry (``stratum rollout resume NAME``): finished hosts
are not redone.

The table (``rollouts``: id, model_name, state, created_at, updated_at, record JSON) is
created by the index's schema migration (SQLite 4, PostgreSQL 2); the index's rollout methods
(registry/sql_index.py) are the only code that reads or writes it.
"""

from __future__ import annotations

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
        """From the index's row: its record with the row's id and times on top."""
        rec = dict(row)
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


def _index(registry):
    """The registry's index, when it keeps rollout records (the SQLite and PostgreSQL ones do)."""
    index = registry.index
    if not hasattr(index, "add_rollout"):
        raise RegistryError(
            f"This registry ({type(index).__name__}) keeps no rollout records: deploy in waves from a registry "
            "on SQLite (the default) or PostgreSQL."
        )
    return index


def save_rollout(registry, rollout: Rollout) -> Rollout:
    """Insert ``rollout`` (no id yet) or replace its record; sets id and times. A ``running`` rollout
    whose stored state is ``aborting`` (`stratum rollout abort` asked meanwhile) stays ``aborting``:
    the driver sees it at the next wave."""
    now = _now()
    index = _index(registry)
    if rollout.id is None:
        rollout.id = index.add_rollout(rollout.name, rollout.state, now, rollout.to_record())
        rollout.created_at = now
    else:
        rollout.state, rollout.reason = index.update_rollout(rollout.id, rollout.state, now, rollout.to_record())
    rollout.updated_at = now
    return rollout


def get_rollout(registry, rollout_id: int) -> Rollout:
    found = _index(registry).get_rollout(int(rollout_id))
    if found is None:
        raise RegistryError(f"There is no rollout #{rollout_id}; `stratum rollout status NAME` shows a model's.")
    return Rollout.from_row(found)


def rollouts(registry, name: str | None = None) -> list[Rollout]:
    """Rollouts oldest first (of model ``name`` when given)."""
    return [Rollout.from_row(r) for r in _index(registry).rollouts(name)]


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
    _index(registry).set_rollout_state(rollout_id, state, reason, _now())
    return get_rollout(registry, rollout_id)


def current_state(registry, rollout_id: int) -> str:
    """The stored state (a process driving the rollout checks it for ``aborting``)."""
    return _index(registry).rollout_state(rollout_id)
