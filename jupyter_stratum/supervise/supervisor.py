"""The supervisor: poll every host serving a model, apply the policy, write what it saw and what it
decided to the registry's event log.

State lives in the registry, not in the process: the streak of drifting polls is read back from
the model's ``supervise_observed`` events, so a supervisor that is killed and started again goes on
where it stopped: the stage of a challenger is read back from its ``supervise_stage`` events, and a
challenger registered by a supervisor that died before it wrote ``supervise_retrained`` is found again
from its lineage (``extra.retrain.event``), not trained twice. ``--dry-run`` decides and acts on nothing.

With an inventory (``--edge``) a challenger goes through the promote stages on the hosts
(:mod:`.promotion`); with plain ``--host`` URLs only the ``champion`` alias moves."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SuperviseError
from .policy import Policy

OBSERVED = "supervise_observed"
DECIDED = "supervise_decision"
RETRAINED = "supervise_retrained"
RETRAIN_FAILED = "supervise_retrain_failed"
PROMOTED = "supervise_promoted"
REJECTED = "supervise_rejected"
PENDING_APPROVAL = "supervise_approval_pending"
STAGE_FAILED = "supervise_stage_error"  # a promote stage's deploy or rollback could not run


@dataclass
class HostObservation:
    """What one host's runtime said at one poll."""

    host: str
    url: str
    ok: bool
    error: str = ""
    version: str = ""
    drift_enabled: bool = False
    detected: bool = False
    drifted_features: list[str] = field(default_factory=list)
    n_features: int = 0
    window_rows: int = 0
    live_metric: str = ""
    live_value: float | None = None
    labelled_rows: int = 0
    #: each feature's drift score at the host's last check (statistic / threshold; >= 1: drifted)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def drift_share(self) -> float:
        return len(self.drifted_features) / self.n_features if self.n_features else 0.0


@dataclass
class Decision:
    """The supervisor's conclusion after one poll."""

    action: str  # none | retrain | shadow | await_shadow | canary | await_canary | promote | reject | await_approval
    reasons: list[str] = field(default_factory=list)
    drift_streak: int = 0
    dry_run: bool = True
    acted: bool = False
    version: int | None = None  # the challenger a promote/reject decision is about
    #: a promote stage to carry out: (stage, hosts, figures or the champion's version); see .promotion
    stage: tuple | None = field(default=None, repr=False)

    def to_text(self) -> str:
        if self.action == "none":
            return f"no action (drift streak {self.drift_streak})"
        mode = "dry run: nothing done" if self.dry_run else ("done" if self.acted else "not done")
        return f"{self.action} ({mode}): " + "; ".join(self.reasons)


def poll_host(name: str, host: str, url: str, timeout: float = 5.0) -> HostObservation:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/v2/models/{name}/drift", timeout=timeout) as r:
            body = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return HostObservation(host, url, ok=False, error=f"{type(exc).__name__}: {exc}")
    live = body.get("live") or {}
    return HostObservation(
        host,
        url,
        ok=True,
        version=str(body.get("version", "")),
        drift_enabled=bool(body.get("enabled")),
        detected=bool(body.get("detected")),
        drifted_features=list(body.get("drifted_features") or []),
        n_features=len(body.get("tracked") or []),
        window_rows=int(body.get("window_rows") or 0),
        live_metric=str(live.get("metric") or ""),
        live_value=live.get("value"),
        labelled_rows=int(live.get("labelled_rows") or 0),
        scores={str(f["feature"]): float(f["score"]) for f in body.get("features") or [] if "score" in f},
    )


class Supervisor:
    def __init__(
        self,
        registry,
        name: str,
        policy: Policy,
        hosts: list[tuple[str, str]],
        *,
        dry_run: bool = True,
        token: str | None = None,
        client=None,
        inventory: str | Path | None = None,
    ):
        if inventory is not None and not hosts:
            from ..deploy.inventory import read_inventory

            hosts = [(h.name, h.url) for h in read_inventory(inventory).hosts]
        if not hosts:
            raise SuperviseError(
                f"No host serves {name}: deploy it first (`stratum deploy {name} ...`) or name the runtimes "
                "with --host URL."
            )
        self.registry = registry
        self.name = name
        self.policy = policy
        self.hosts = hosts
        self.dry_run = dry_run
        self.token = token
        self.client = client
        #: the hosts' inventory: promotion goes through the stages of :mod:`.promotion` on them
        self.inventory = Path(inventory) if inventory is not None else None

    def previous_streak(self) -> int:
        """Drifting polls running, from the registry's events (a restarted supervisor resumes)."""
        observed = self.registry.events(self.name, kinds=(OBSERVED,))
        return int(observed[-1].details.get("drift_streak", 0)) if observed else 0

    def run_once(self) -> tuple[list[HostObservation], Decision]:
        if not self.dry_run:
            self.resume()
        observations = [poll_host(self.name, host, url) for host, url in self.hosts]
        staged = self.staged(observations) if self.inventory is not None else self.promotion()
        decision = staged or self.decide(observations, self.previous_streak())
        self.registry.add_event(
            self.name,
            OBSERVED,
            actor="supervisor",
            details={
                "hosts": [asdict(o) for o in observations],
                "drift_streak": decision.drift_streak,
                "dry_run": self.dry_run,
            },
        )
        if decision.action != "none" and not decision.action.startswith("await_"):
            event = self.registry.add_event(
                self.name,
                DECIDED,
                actor="supervisor",
                details={
                    "action": decision.action,
                    "reasons": decision.reasons,
                    "dry_run": self.dry_run,
                    "acted": False,
                },
            )
            if decision.action == "retrain" and not self.dry_run:
                self.retrain(event, decision, observations)
            elif decision.stage is not None and not self.dry_run:
                self.act_on_stage(event, decision)
            elif decision.action in ("promote", "reject") and not self.dry_run:
                self.conclude(event, decision)
        return observations, decision

    def act_on_stage(self, event, decision: Decision) -> None:
        """A promote stage through the deploy API. A deploy or rollback that cannot run (an unreadable
        inventory, Ansible missing) is an event; the stage is left as it was and the next poll tries again."""
        from ..errors import StratumError

        try:
            self.promotion_stages().act(event, decision)
        except StratumError as exc:
            self.registry.add_event(
                self.name,
                STAGE_FAILED,
                version=decision.version,
                actor="supervisor",
                details={"decision": event.id, "action": decision.action, "error": str(exc)},
            )

    def promotion_stages(self):
        from .promotion import StagedPromotion

        assert self.inventory is not None, "the promote stages need an inventory"
        return StagedPromotion(self, self.inventory)

    def staged(self, observations: list[HostObservation]) -> Decision | None:
        """With a ``challenger`` alias and an inventory: the next promote stage (see :mod:`.promotion`)."""
        aliases = {a.alias: a.version for a in self.registry.aliases(self.name)}
        challenger = aliases.get("challenger")
        if challenger is None:
            return None
        champion = aliases.get("champion")
        if champion is None:
            parent = (self.registry.get(f"{self.name}@{challenger}").extra or {}).get("parent") or {}
            champion = parent.get("version")
        return self.promotion_stages().advance(challenger, champion, observations)

    def resume(self) -> int | None:
        """A retrain decision without its outcome event whose version was registered (the supervisor died
        in between): make that version the challenger and record it, instead of training again."""
        log = self.registry.events(self.name, kinds=(DECIDED, RETRAINED, RETRAIN_FAILED))
        if not log or log[-1].kind != DECIDED or log[-1].details.get("action") != "retrain":
            return None
        event = log[-1]
        if event.details.get("dry_run"):
            return None
        for mv in reversed(self.registry.versions(self.name)):
            retrain = (mv.extra or {}).get("retrain") or {}
            if retrain.get("event") == event.id:
                self._challenger(mv, event, retrain.get("captured_rows", 0), resumed=True)
                return mv.version
        return None

    def _challenger(self, child, event, captured_rows: int, *, resumed: bool = False) -> None:
        parent = ((child.extra or {}).get("parent") or {}).get("version")
        self.registry.set_alias(
            self.name, "challenger", child.version, actor="supervisor", reason=f"retrained after event {event.id}"
        )
        details = {"decision": event.id, "parent": parent, "captured_rows": captured_rows}
        if resumed:
            details["resumed"] = True
        self.registry.add_event(self.name, RETRAINED, version=child.version, actor="supervisor", details=details)

    def promotion(self) -> Decision | None:
        """With a ``challenger`` alias: compare it in shadow with the champion on the hosts' labelled rows
        (the policy's ``promote.min_gain``); None without one (then drift and accuracy decide)."""
        aliases = {a.alias: a.version for a in self.registry.aliases(self.name)}
        challenger = aliases.get("challenger")
        if challenger is None:
            return None
        pending = self.registry.events(self.name, kinds=(PENDING_APPROVAL,))
        if pending and pending[-1].version == challenger:
            return Decision("await_approval", [f"version {challenger} waits for `stratum supervise approve`"])
        labelled = champion = shadow = 0.0
        for _, url in self.hosts:
            body = _get_json(f"{url.rstrip('/')}/v2/models/{self.name}/shadow")
            if not body or body.get("version") != str(challenger) or not body.get("labelled_rows"):
                continue
            n = float(body["labelled_rows"])
            labelled += n
            champion += n * float(body["champion_value"])
            shadow += n * float(body["shadow_value"])
            metric = body["metric"]
        need = self.policy.accuracy.min_labels if self.policy.accuracy is not None else 50
        if labelled < need:
            return Decision("shadow", [f"version {challenger} in shadow: {int(labelled)}/{need} labelled rows"])
        champion, shadow = champion / labelled, shadow / labelled
        gain = shadow - champion if metric == "accuracy" else champion - shadow
        text = (
            f"version {challenger} {metric} {shadow:.4f} vs champion {champion:.4f} over {int(labelled)} "
            f"labelled rows (gain {gain:+.4f}, min_gain {self.policy.promote.min_gain})"
        )
        action = "promote" if gain >= self.policy.promote.min_gain else "reject"
        return Decision(action, [text], dry_run=self.dry_run, version=challenger)

    def conclude(self, event, decision: Decision) -> None:
        version = decision.version
        if decision.action == "reject":
            self.registry.delete_alias(self.name, "challenger", actor="supervisor", reason=decision.reasons[0])
            self.registry.add_event(
                self.name, REJECTED, version=version, actor="supervisor", details={"decision": event.id}
            )
        elif self.policy.approve == "manual":
            self.registry.add_event(
                self.name, PENDING_APPROVAL, version=version, actor="supervisor", details={"decision": event.id}
            )
        else:
            assert version is not None, "a promote decision names the challenger's version"
            promote(self.registry, self.name, version, actor="supervisor", decision=event.id)
        decision.acted = True

    def retrain(self, event, decision: Decision, observations: list[HostObservation]) -> None:
        """The served version's spec on its data plus every host's labelled captured rows, on Dask; the new
        version becomes ``challenger``. A failure is an event and leaves versions and aliases as they were."""
        import pandas as pd

        from ..errors import StratumError
        from ..spec import parse_spec
        from .retrain import fetch_capture, labelled_frame, retrain_version

        served = next((o.version for o in observations if o.ok and o.version), "")
        try:
            parent = self.registry.get(f"{self.name}@{served}" if served else self.name)
            target = (parse_spec(parent.spec_yaml).target or "target") if parent.spec_yaml else "target"
            frames = [
                labelled_frame(fetch_capture(url, self.name, self.token), parent.input_schema, target)
                for _, url in self.hosts
            ]
            captured = pd.concat(frames, ignore_index=True) if frames else None
            child = retrain_version(
                self.registry,
                parent,
                captured,
                reason={"event": event.id, "reasons": decision.reasons},
                client=self.client,
                sources=tuple(self.policy.retrain.data),
            )
        except StratumError as exc:
            self.registry.add_event(
                self.name, RETRAIN_FAILED, actor="supervisor", details={"decision": event.id, "error": str(exc)}
            )
            return
        if os.environ.get("STRATUM_SUPERVISE_DIE_AT") == "registered":  # the resume test's hook
            os.kill(os.getpid(), signal.SIGKILL)
        self._challenger(child, event, 0 if captured is None else len(captured))
        decision.acted = True

    def decide(self, observations: list[HostObservation], previous_streak: int) -> Decision:
        policy = self.policy
        reasons = []
        drifting = [
            o for o in observations if o.ok and o.drift_enabled and o.drift_share >= policy.drift.features_share
        ]
        streak = previous_streak + 1 if drifting else 0
        if drifting and streak >= policy.drift.for_:
            for o in drifting:
                reasons.append(
                    f"{o.host}: {len(o.drifted_features)}/{o.n_features} features drifted "
                    f"({', '.join(o.drifted_features)}) for {streak} polls running"
                )
        rule = policy.accuracy
        if rule is not None:
            for o in observations:
                if (
                    not o.ok
                    or o.live_value is None
                    or o.labelled_rows < rule.min_labels
                    or o.live_metric != rule.metric
                ):
                    continue
                if rule.below is not None and o.live_value < rule.below:
                    reasons.append(
                        f"{o.host}: live {o.live_metric} {o.live_value:.4f} < {rule.below} over {o.labelled_rows} labelled rows"
                    )
                if rule.above is not None and o.live_value > rule.above:
                    reasons.append(
                        f"{o.host}: live {o.live_metric} {o.live_value:.4f} > {rule.above} over {o.labelled_rows} labelled rows"
                    )
        action = "retrain" if reasons else "none"
        return Decision(action, reasons, streak, dry_run=self.dry_run)


def _get_json(url: str, timeout: float = 5.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def promote(registry, name: str, version: int, *, actor: str, decision: int | None = None) -> None:
    """``champion`` moves to ``version``; the ``challenger`` alias goes; a ``supervise_promoted`` event."""
    previous = {a.alias: a.version for a in registry.aliases(name)}.get("champion")
    registry.set_alias(name, "champion", version, actor=actor, reason="promoted by the supervisor")
    registry.delete_alias(name, "challenger", actor=actor, reason=f"version {version} is champion")
    registry.add_event(
        name, PROMOTED, version=version, actor=actor, details={"decision": decision, "previous_champion": previous}
    )


def approve(registry, name: str, *, actor: str | None = None) -> int:
    """Complete a promotion waiting for ``approve: manual``; the version promoted."""
    from .promotion import APPROVED

    pending = registry.events(name, kinds=(PENDING_APPROVAL, PROMOTED, APPROVED))
    if not pending or pending[-1].kind != PENDING_APPROVAL:
        raise SuperviseError(f"No promotion of {name} waits for approval: see `stratum events {name}`.")
    if pending[-1].details.get("staged"):  # the supervisor goes on with the canary at its next poll
        registry.add_event(
            name, APPROVED, version=pending[-1].version, actor=actor or "approver", details=pending[-1].details
        )
        return pending[-1].version
    promote(
        registry, name, pending[-1].version, actor=actor or "approver", decision=pending[-1].details.get("decision")
    )
    return pending[-1].version


def hosts_of_live_deployment(registry, name: str) -> list[tuple[str, str]]:
    live = registry.live_deployment(name)
    if live is None:
        return []
    return [(h.host, h.url) for h in live.serving_hosts]


def summary_rows(observations: list[HostObservation]) -> list[dict[str, Any]]:
    return [
        {
            "host": o.host,
            "ok": o.ok,
            "drifted": f"{len(o.drifted_features)}/{o.n_features}" if o.ok else o.error[:60],
            "window": o.window_rows,
            "live": f"{o.live_metric}={o.live_value:.4f}" if o.live_value is not None else "",
            "labelled": o.labelled_rows,
        }
        for o in observations
    ]
