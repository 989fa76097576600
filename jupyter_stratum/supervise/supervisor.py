"""The supervisor: poll every host serving a model, apply the policy, write what it saw and what it
decided to the registry's event log.

State lives in the registry, not in the process: the streak of drifting polls is read back from
the model's ``supervise_observed`` events, so a supervisor that is killed and started again goes on
where it stopped. This version decides and records (``--dry-run`` acts on nothing); retraining,
shadow, canary and promotion are the next steps."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import SuperviseError
from .policy import Policy

OBSERVED = "supervise_observed"
DECIDED = "supervise_decision"
RETRAINED = "supervise_retrained"
RETRAIN_FAILED = "supervise_retrain_failed"


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

    @property
    def drift_share(self) -> float:
        return len(self.drifted_features) / self.n_features if self.n_features else 0.0


@dataclass
class Decision:
    """The supervisor's conclusion after one poll."""

    action: str  # none | retrain
    reasons: list[str] = field(default_factory=list)
    drift_streak: int = 0
    dry_run: bool = True
    acted: bool = False

    def to_text(self) -> str:
        if self.action == "none":
            return f"no action (drift streak {self.drift_streak})"
        mode = "dry run: nothing done" if self.dry_run else ("done" if self.acted else "not done: not supported yet")
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
    ):
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

    def previous_streak(self) -> int:
        """Drifting polls running, from the registry's events (a restarted supervisor resumes)."""
        observed = self.registry.events(self.name, kinds=(OBSERVED,))
        return int(observed[-1].details.get("drift_streak", 0)) if observed else 0

    def run_once(self) -> tuple[list[HostObservation], Decision]:
        observations = [poll_host(self.name, host, url) for host, url in self.hosts]
        decision = self.decide(observations, self.previous_streak())
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
        if decision.action != "none":
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
        return observations, decision

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
        self.registry.set_alias(
            self.name, "challenger", child.version, actor="supervisor", reason=f"retrained after event {event.id}"
        )
        self.registry.add_event(
            self.name,
            RETRAINED,
            version=child.version,
            actor="supervisor",
            details={
                "decision": event.id,
                "parent": parent.version,
                "captured_rows": 0 if captured is None else len(captured),
            },
        )
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
