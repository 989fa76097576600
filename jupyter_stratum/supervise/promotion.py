"""Staged promotion on the hosts of an inventory: shadow -> canary -> all, each gated on metrics, with
automatic rollback (see :mod:`.stages` for what each stage deploys).

The stage a challenger is in is read back from the registry's ``supervise_stage`` events at every poll,
so a supervisor that is restarted goes on where it stopped. One poll does at most one stage change:

=================  =====================================================================================
last stage event   this poll
=================  =====================================================================================
none               deploy the shadow bundle on the shadow hosts (``started``)
shadow started     read ``/shadow`` there; with ``min_labels`` labelled rows: gain >= ``min_gain`` passes
                   (the shadow hosts roll back, then the canary starts, or ``approve: manual`` waits),
                   else the shadow hosts roll back and the challenger is rejected
canary started     the canary hosts' live metric against the champion hosts' (or, with none left, the
                   champion's in shadow): not worse passes and the challenger goes to every host (the
                   policy's waves); worse rolls the canary hosts back and rejects the challenger
shadow passed      (or skipped) with ``approve: manual``: ask for the approval once, then wait for it;
                   approved, or without ``manual`` (the supervisor died before the next stage's event):
                   the next stage
canary passed      (or skipped; the supervisor died before the rollout's event) every host
all passed         (the supervisor died before the aliases moved) the challenger becomes champion
any failed         (the supervisor died before the rejection was recorded) the challenger is rejected
=================  =====================================================================================

A stage's event is written once what it records is done on the hosts (a failed stage's rollback
included). A supervisor killed in between finds the stage before it and deploys again, and an unchanged
deploy is one quick round trip per host: resuming never records a stage twice.

``promote: {shadow: 0}`` skips the shadow stage: the first poll starts the canary (or, with ``approve:
manual``, waits for the approval first), and the canary must gain ``min_gain`` over the champion's hosts.
``{canary: 0}`` skips the canary: a passed (or approved) shadow goes to every host. With both 0 the
challenger goes to every host at once, gated only by the deploy's own checks. A skipped stage is an event
too (``status: skipped``), so the registry's events still tell the whole story.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGE = "supervise_stage"
APPROVED = "supervise_approved"


@dataclass
class Figures:
    """A metric over labelled rows, weighted by the rows of each host."""

    metric: str = ""
    value: float = 0.0
    labelled: int = 0

    def add(self, metric: str, value: float, rows: int) -> None:
        self.metric = metric or self.metric
        total = self.labelled + rows
        self.value = (self.value * self.labelled + value * rows) / total if total else 0.0
        self.labelled = total


def gain_of(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is (accuracy: higher; an error: lower)."""
    return challenger - champion if metric == "accuracy" else champion - challenger


def served(result) -> list[str]:
    """The hosts a deploy switched to its release (not those it rolled back itself, nor unreached ones)."""
    return [h.host for h in result.hosts if h.status == "changed"]


class StagedPromotion:
    """The promote stages of one supervisor (``sup``: its registry, name, policy, dry_run, inventory)."""

    def __init__(self, sup, inventory: str | Path):
        self.sup = sup
        self.inventory = Path(inventory)

    # -- reading -------------------------------------------------------------
    def stages(self, version: int) -> list:
        return [e for e in self.sup.registry.events(self.sup.name, kinds=(STAGE,)) if e.version == version]

    def host_names(self) -> list[str]:
        from ..deploy.inventory import read_inventory

        return read_inventory(self.inventory).names

    def split(self) -> tuple[list[str], list[str]]:
        from .stages import stage_hosts

        p = self.sup.policy.promote
        return stage_hosts(self.host_names(), p.shadow, p.canary)

    def shadow_figures(self, hosts: list[str], observations, version: int) -> tuple[Figures, Figures]:
        from .supervisor import _get_json

        urls = {o.host: o.url for o in observations}
        champion, shadow = Figures(), Figures()
        for host in hosts:
            body = _get_json(f"{urls[host].rstrip('/')}/v2/models/{self.sup.name}/shadow") if host in urls else None
            if not body or body.get("version") != str(version) or not body.get("labelled_rows"):
                continue
            n = int(body["labelled_rows"])
            champion.add(body["metric"], float(body["champion_value"]), n)
            shadow.add(body["metric"], float(body["shadow_value"]), n)
        return champion, shadow

    @staticmethod
    def live_figures(observations, hosts: list[str], version: str | None = None) -> Figures:
        out = Figures()
        for o in observations:
            if o.host in hosts and o.ok and o.live_value is not None and (version is None or o.version == version):
                out.add(o.live_metric, float(o.live_value), o.labelled_rows)
        return out

    @property
    def need(self) -> int:
        rule = self.sup.policy.accuracy
        return rule.min_labels if rule is not None else 50

    def staged(self, action: str, reasons: list[str], challenger: int, stage: str, hosts: list[str], figures) -> Any:
        """A decision about ``challenger`` that carries out ``stage`` on ``hosts``; ``figures``: what the stage's
        event records (the champion's version for the shadow stage)."""
        from .supervisor import Decision

        return Decision(action, reasons, dry_run=self.sup.dry_run, version=challenger, stage=(stage, hosts, figures))

    # -- the poll --------------------------------------------------------------
    def advance(self, challenger: int, champion: int | None, observations) -> Any:
        from .supervisor import PENDING_APPROVAL, Decision

        done = self.stages(challenger)
        last = done[-1] if done else None
        shadow_hosts, canary_hosts = self.split()
        if last is None and not shadow_hosts:  # promote: {shadow: 0}
            text = f"version {challenger}: no shadow stage (promote.shadow: 0)"
            if self.sup.policy.approve == "manual":
                return self.staged("promote", [text], challenger, "approval", [], {})
            return self.after_shadow(challenger, [text], {}, canary_hosts)
        if last is None:
            return self.staged(
                "shadow",
                [f"version {challenger} goes in shadow on {', '.join(shadow_hosts)}"],
                challenger,
                "shadow",
                shadow_hosts,
                champion,
            )
        stage, status = last.details.get("stage"), last.details.get("status")
        if stage == "shadow" and status == "started":
            base, cand = self.shadow_figures(shadow_hosts, observations, challenger)
            if cand.labelled < self.need:
                return Decision(
                    "await_shadow", [f"version {challenger} in shadow: {cand.labelled}/{self.need} labelled rows"]
                )
            gain = gain_of(cand.metric, cand.value, base.value)
            text = (
                f"shadow on {', '.join(shadow_hosts)}: version {challenger} {cand.metric} {cand.value:.4f} vs champion "
                f"{base.value:.4f} over {cand.labelled} labelled rows (gain {gain:+.4f}, min_gain {self.sup.policy.promote.min_gain})"
            )
            figures = {
                "metric": cand.metric,
                "challenger": cand.value,
                "champion": base.value,
                "labelled": cand.labelled,
                "gain": gain,
            }
            if gain < self.sup.policy.promote.min_gain:
                return self.staged("reject", [text], challenger, "shadow", shadow_hosts, figures)
            if self.sup.policy.approve == "manual":
                return self.staged("promote", [text], challenger, "approval", shadow_hosts, figures)
            return self.after_shadow(challenger, [text], figures, canary_hosts)
        figures = last.details.get("figures") or {}
        if stage == "shadow" and status in ("passed", "skipped"):
            if self.sup.policy.approve != "manual":  # killed after closing the shadow, before the next stage's event
                return self.after_shadow(challenger, [f"version {challenger}: shadow {status}"], figures, canary_hosts)
            pending = self.sup.registry.events(self.sup.name, kinds=(PENDING_APPROVAL, APPROVED))
            mine = [e for e in pending if e.version == challenger and e.id > last.id]
            if mine and mine[-1].kind == APPROVED:
                return self.after_shadow(challenger, [f"version {challenger} approved"], figures, canary_hosts)
            if not mine:  # killed before the request for approval was recorded
                return self.staged(
                    "promote",
                    [f"version {challenger}: shadow {status}; approval requested"],
                    challenger,
                    "approval",
                    [],
                    figures,
                )
            return Decision("await_approval", [f"version {challenger} waits for `stratum supervise NAME --approve`"])
        if stage == "canary" and status in ("passed", "skipped"):  # killed before the rollout to every host
            return self.staged(
                "promote",
                [f"version {challenger}: canary {status}; every host next"],
                challenger,
                "all",
                self.host_names(),
                figures,
            )
        if stage == "all" and status == "passed":  # killed before the aliases moved
            return self.staged(
                "promote", [f"version {challenger} serves on every host"], challenger, "finish", [], {"stage": stage}
            )
        if status == "failed":  # killed after the failed stage went back, before the rejection was recorded
            return self.staged(
                "reject",
                [f"version {challenger}: the {stage} stage failed (see its event)"],
                challenger,
                "finish",
                [],
                {"stage": stage},
            )
        if stage == "canary" and status == "started":
            canary = self.live_figures(observations, canary_hosts, str(challenger))
            if canary.labelled < self.need:
                return Decision(
                    "await_canary",
                    [
                        f"version {challenger} canary on {', '.join(canary_hosts)}: "
                        f"{canary.labelled}/{self.need} labelled rows"
                    ],
                )
            others = [h for h in self.host_names() if h not in canary_hosts]
            base = self.live_figures(observations, others)
            if base.labelled < self.need:  # no champion host left, or too few labels there: the shadow's figure
                shadow = next(
                    (e for e in reversed(done) if e.details.get("stage") == "shadow" and e.details.get("figures")), None
                )
                seen: dict[str, Any] = shadow.details["figures"] if shadow is not None else {}
                base = Figures(canary.metric, float(seen.get("champion", canary.value)), int(seen.get("labelled", 0)))
            gain = gain_of(canary.metric, canary.value, base.value)
            # without a shadow stage the canary is the one live comparison: it must gain min_gain over the
            # champion's hosts (with no such figure, not being worse than itself is all it can show)
            skipped = not self.split()[0] and base.labelled >= self.need
            floor = self.sup.policy.promote.min_gain if skipped else 0.0
            text = (
                f"canary on {', '.join(canary_hosts)}: version {challenger} live {canary.metric} {canary.value:.4f} "
                f"over {canary.labelled} labelled rows vs champion {base.value:.4f} (gain {gain:+.4f})"
            )
            figures = {
                "metric": canary.metric,
                "challenger": canary.value,
                "champion": base.value,
                "labelled": canary.labelled,
                "gain": gain,
            }
            if gain < floor:
                return self.staged("reject", [text], challenger, "canary", canary_hosts, figures)
            return self.staged("promote", [text], challenger, "all", self.host_names(), figures)
        return Decision("none", [f"version {challenger}: stage {stage} {status}"])

    def after_shadow(self, challenger: int, reasons: list[str], figures: dict, canary_hosts: list[str]) -> Any:
        """The stage after a passed, approved or skipped shadow: the canary, or every host with ``canary: 0``."""

        if canary_hosts:
            return self.staged("canary", reasons, challenger, "canary", canary_hosts, figures)
        reasons = [*reasons, f"version {challenger}: no canary stage (promote.canary: 0)"]
        return self.staged("promote", reasons, challenger, "all", self.host_names(), figures)

    # -- acting ------------------------------------------------------------------
    def act(self, event, decision) -> None:
        """Carry out ``decision`` (from :meth:`advance`); every stage change is an event."""
        from .supervisor import PENDING_APPROVAL, REJECTED, promote

        name, reg, version = self.sup.name, self.sup.registry, decision.version
        kind, hosts, info = decision.stage
        # Each stage event is written after what it records is done on the hosts (a failed stage's rollback
        # included), so a supervisor killed in between finds the stage before it and redoes the deploy,
        # which is an unchanged re-run there (see the table in the module's docstring).
        if kind == "finish":  # the last step of a stage already recorded (a resumed supervisor)
            if decision.action == "promote":
                promote(reg, name, version, actor="supervisor", decision=event.id)
            else:
                self.reject(event, decision, info["stage"], decision.reasons[0])
        elif decision.action == "shadow":
            result = self.deploy_shadow(info, version, hosts)
            if not result.ok:  # hosts that failed their check went back already; the others go back now
                self.rollback(served(result))
            self.record("shadow", "started" if result.ok else "failed", version, hosts, event, result)
            if not result.ok:
                self.reject(event, decision, "shadow", f"the shadow deploy was {result.status}")
        elif decision.action == "reject":
            self.rollback(hosts)
            self.record(kind, "failed", version, hosts, event, figures=info, rolled_back=True)
            self.reject(event, decision, kind, decision.reasons[0])
        elif kind == "approval":
            if hosts:
                self.rollback(hosts)
                self.record("shadow", "passed", version, hosts, event, figures=info, rolled_back=True)
            elif not self.stages(version):  # promote: {shadow: 0}
                self.record("shadow", "skipped", version, [], event)
            reg.add_event(
                name,
                PENDING_APPROVAL,
                version=version,
                actor="supervisor",
                details={"decision": event.id, "staged": True},
            )
        elif decision.action == "canary":
            self.close_shadow(version, event, info)
            result = self.deploy(f"{name}@{version}", limit=hosts)
            if not result.ok:
                self.rollback(served(result))
            self.record("canary", "started" if result.ok else "failed", version, hosts, event, result)
            if not result.ok:
                self.reject(event, decision, "canary", f"the canary deploy was {result.status}")
        elif decision.action == "promote" and kind == "all":
            done = self.stages(version)
            last = done[-1].details if done else {}
            canary: list[str] = []
            if last.get("stage") == "canary":
                canary = last.get("hosts") or []
                if last.get("status") == "started":  # else passed or skipped already (a resumed supervisor)
                    self.record("canary", "passed", version, canary, event, figures=info)
            else:  # promote: {canary: 0}
                self.close_shadow(version, event, info)
                self.record("canary", "skipped", version, [], event)
            result = self.deploy(f"{name}@{version}", waves=self.sup.policy.promote.waves)
            if not result.ok:
                self.rollback(served(result) + canary)
            self.record("all", "passed" if result.ok else "failed", version, hosts, event, result)
            if result.ok:
                promote(reg, name, version, actor="supervisor", decision=event.id)
            else:
                reg.delete_alias(name, "challenger", actor="supervisor", reason=f"the rollout was {result.status}")
                reg.add_event(
                    name,
                    REJECTED,
                    version=version,
                    actor="supervisor",
                    details={"decision": event.id, "stage": "all", "reason": f"the rollout was {result.status}"},
                )
        decision.acted = True

    def close_shadow(self, version: int, event, figures: dict) -> None:
        """Before the next stage: the shadow that passed just now goes back to the champion's release, or a
        skipped shadow (``promote: {shadow: 0}``) is recorded as such."""
        done = self.stages(version)
        if not done:
            self.record("shadow", "skipped", version, [], event)
        elif done[-1].details.get("stage") == "shadow" and done[-1].details.get("status") == "started":
            shadow_hosts = done[-1].details.get("hosts") or self.split()[0]
            self.rollback(shadow_hosts)
            self.record("shadow", "passed", version, shadow_hosts, event, figures=figures, rolled_back=True)

    def reject(self, event, decision, stage: str, reason: str) -> None:
        from .supervisor import REJECTED

        reg = self.sup.registry
        reg.delete_alias(self.sup.name, "challenger", actor="supervisor", reason=reason)
        reg.add_event(
            self.sup.name,
            REJECTED,
            version=decision.version,
            actor="supervisor",
            details={"decision": event.id, "stage": stage, "reason": reason},
        )

    def record(
        self,
        stage: str,
        status: str,
        version: int,
        hosts: list[str],
        event,
        result=None,
        *,
        figures: dict | None = None,
        rolled_back: bool = False,
    ) -> None:
        details: dict[str, Any] = {"stage": stage, "status": status, "hosts": list(hosts), "decision": event.id}
        if figures:
            details["figures"] = figures
        if rolled_back:
            details["rolled_back"] = True
        if result is not None:
            details["deployment"] = result.record_id
            details["deploy_status"] = result.status
            details["host_status"] = {h.host: h.status for h in result.hosts}
        self.sup.registry.add_event(self.sup.name, STAGE, version=version, actor="supervisor", details=details)

    # -- the deploy API ------------------------------------------------------------
    def deploy(
        self,
        ref: str,
        *,
        limit: list[str] | None = None,
        inventory: Path | None = None,
        bundle: Path | None = None,
        waves: str | None = None,
    ):
        from ..deploy import deploy

        return deploy(
            ref,
            inventory or self.inventory,
            limit=",".join(limit) if limit else None,
            bundle=bundle,
            waves=waves,
            registry=self.sup.registry,
        )

    def deploy_shadow(self, champion: int | None, challenger: int, hosts: list[str]):
        from ..deploy.core import _bundle_for
        from .stages import shadow_bundle, stage_inventory

        reg, name = self.sup.registry, self.sup.name
        champion = champion if champion is not None else challenger - 1
        folder = Path(reg.root) / "supervise" / name
        bundle = shadow_bundle(
            _bundle_for(reg, f"{name}@{champion}", None),
            _bundle_for(reg, f"{name}@{challenger}", None),
            folder / "bundles" / f"{name}-{champion}-shadow-{challenger}",
            challenger_version=challenger,
        )
        inventory = stage_inventory(
            self.inventory, {h: ["--shadow", "shadow"] for h in hosts}, folder / "inventory-shadow"
        )
        return self.deploy(f"{name}@{champion}", limit=hosts, inventory=inventory, bundle=bundle)

    def rollback(self, hosts: list[str]) -> None:
        if not hosts:
            return
        from ..deploy import rollback

        rollback(self.sup.name, self.inventory, limit=",".join(sorted(set(hosts))), registry=self.sup.registry)
