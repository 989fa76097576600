"""Driving a rollout wave by wave, resuming one whose process died, aborting one.

Every deploy is a rollout (one wave of every host when no ``--waves`` is given). For each
wave, the generated project's ``deploy.yml`` runs on that wave's hosts only; each host
is checked (health, the manifest's sample prediction) and goes back to its previous
release when that fails. Then the wave soaks (:mod:`.gate`): when its metrics breach the
gate, the wave's changed hosts are rolled back and the rollout halts. When more than
``max_fail`` percent of a wave failed (unreachable hosts are reported, not counted: a
device that is off does not hold back the fleet), the rollout halts too. Hosts of the
waves never started keep their release (``not_reached``).

The rollout record (:mod:`jupyter_stratum.registry.rollout`) is written before the first
wave and whenever a host finishes, so :func:`resume` can finish a rollout whose process
was killed, from any machine sharing the registry, without redoing finished hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..errors import DeployError
from ..registry.deployment import HostResult
from ..registry.rollout import (
    FINISHED,
    Rollout,
    RolloutHost,
    current_state,
    latest_rollout,
    owner_tag,
    save_rollout,
    set_state,
)
from .inventory import EdgeInventory
from .project import DeployProject
from .release import version_of_release as _version_of
from .runner import DeployEvent, run_project

#: what a host's deploy status means for its rollout state
_STATE_OF = {
    "changed": "done",
    "unchanged": "done",
    "rolled_back": "rolled_back",
    "failed": "failed",
    "unreachable": "unreachable",
    "not_reached": "pending",  # its wave's run stopped before it: it runs again on resume
}


def plan_waves(n_hosts: int, batches: list[int | str] | None) -> list[int]:
    """Wave sizes for ``n_hosts`` as Ansible's ``serial`` list means them: a count or a
    percentage of all the hosts (at least 1), the last entry repeating until every host has one."""
    if not batches:
        return [n_hosts] if n_hosts else []
    sizes, left, i = [], n_hosts, 0
    while left > 0:
        b = batches[min(i, len(batches) - 1)]
        size = max(1, int(n_hosts * float(b[:-1]) / 100)) if isinstance(b, str) else int(b)
        size = min(size, left)
        sizes.append(size)
        left -= size
        i += 1
    return sizes


def new_rollout(
    registry, model: str, release: str, inv: EdgeInventory, batches, max_fail, gate, port, options
) -> Rollout:
    from ..registry.lineage import current_user

    sizes = plan_waves(len(inv.hosts), batches)
    hosts: list[RolloutHost] = []
    before = {}
    live = registry.live_deployment(model.split("@", 1)[0])
    if live is not None:
        before = {h.host: h for h in live.hosts}
    i = 0
    for wave, size in enumerate(sizes, start=1):
        for h in inv.hosts[i : i + size]:
            prev = before.get(h.name)
            hosts.append(
                RolloutHost(
                    host=h.name,
                    wave=wave,
                    address=h.address,
                    port=h.port_for(port),
                    from_release=prev.serving if prev else "",
                    from_version=prev.version if prev else "",
                    release=prev.serving if prev else "",
                    version=prev.version if prev else "",
                )
            )
        i += size
    ro = Rollout(
        model=model,
        release=release,
        inventory=str(inv.source),
        limit=inv.limit,
        hosts=hosts,
        waves=list(batches or []),
        max_fail_percent=max_fail,
        gate=gate,
        port=port,
        options=options,
        user=current_user(),
        owner=owner_tag(),
    )
    return save_rollout(registry, ro)


def run_rollout(
    registry,
    ro: Rollout,
    inv: EdgeInventory,
    project: DeployProject,
    work: Path,
    *,
    pipelining: bool = True,
    on_event: Callable[[DeployEvent], None] | None = None,
    on_update: Callable[[Rollout], None] | None = None,
):
    """Run the waves of ``ro`` that are not finished; returns the :class:`DeploymentResult`."""
    from .core import DeploymentResult, _result
    from .gate import soak

    t0 = time.monotonic()
    by_name = {h.host: h for h in ro.hosts}
    events: list[DeployEvent] = []

    def changed_state(h: RolloutHost) -> None:
        save_rollout(registry, ro)
        if on_update is not None:
            try:
                on_update(ro)
            except Exception:  # noqa: BLE001 - a display error must not break the rollout
                pass

    for wave in range(1, ro.n_waves + 1):
        if current_state(registry, _id(ro)) == "aborting":
            ro.state, ro.reason = "aborted", ro.reason or "aborted by `stratum rollout abort`"
            break
        if wave in ro.completed_waves:
            continue
        todo = [h for h in ro.wave_hosts(wave) if not h.finished]
        wave_t0 = time.monotonic()
        for h in todo:
            h.state, h.step, h.error = "running", "", ""
        if todo:
            changed_state(todo[0])

        def hook(ev: DeployEvent, wave_t0=wave_t0) -> None:
            events.append(ev)
            h = by_name.get(ev.host)
            if h is not None and h.state == "running":
                h.step = ev.step
                h.seconds = round(time.monotonic() - wave_t0, 1)
                rep = ev.report or {}
                if ev.status == "unreachable":
                    h.state, h.status, h.error = "unreachable", "unreachable", ev.message
                    changed_state(h)
                elif rep.get("status") in ("deployed", "rolled_back", "failed"):
                    h.state = {"deployed": "done"}.get(rep["status"], rep["status"])
                    h.status = {"deployed": "unchanged" if rep.get("unchanged") else "changed"}.get(
                        rep["status"], rep["status"]
                    )
                    h.release = str(rep.get("serving") or "")
                    h.version = _version_of(h.release)
                    if rep["status"] == "deployed" and not rep.get("unchanged"):
                        # (an unchanged host may have been switched by a run that was killed:
                        # the release it came from is the one the rollout recorded)
                        h.from_release = str(rep.get("previous") or h.from_release)
                        h.from_version = _version_of(h.from_release)
                    h.error = str(rep.get("error") or "")
                    changed_state(h)
            if on_event is not None:
                on_event(ev)

        names = [h.host for h in todo]
        wave_inv = EdgeInventory(inv.source, [inv.host(n) for n in names], inv.limit)
        res_hosts: list[HostResult] = []  # none when every host finished before the last process stopped
        if names:
            outcome = run_project(
                project,
                "deploy",
                private_dir=work / f"runner-wave{wave}",
                pipelining=pipelining,
                limit=names,
                on_event=hook,
            )
            res_hosts = _result("deploy", ro.model, wave_inv, project, outcome, 0.0, port_arg=ro.port).hosts
        for hr in res_hosts:
            h = by_name[hr.host]
            h.status, h.changed, h.address, h.port = hr.status, hr.changed, hr.address, hr.port
            h.state = _STATE_OF.get(hr.status, "failed")
            if hr.serving or h.state != "unreachable":
                h.release, h.version = hr.serving, hr.version
            h.error = hr.error or h.error
            h.seconds = round(time.monotonic() - wave_t0, 1)
            if h.state == "done" and hr.status == "unchanged":
                h.from_release, h.from_version = h.from_release or hr.serving, h.from_version or hr.version
                if h.from_release != hr.serving:  # switched by an earlier run of this rollout
                    h.status = "changed"
        save_rollout(registry, ro)

        wave_hosts = ro.wave_hosts(wave)
        halt = ""
        passed = [h for h in wave_hosts if h.state == "done"]
        if ro.gate.soak_s > 0 and passed:
            for h in passed:
                h.step = f"soak {ro.gate.soak_s:g} s"
            changed_state(passed[0])
            verdict = soak(wave, {h.host: f"http://{h.address}:{h.port}" for h in passed}, ro.gate)
            ro.wave_results.append(verdict.to_record())
            if not verdict.passed:
                halt = verdict.reason
                _roll_back_wave(registry, ro, project, work, wave, passed, halt, pipelining, hook)
        counted = [h for h in wave_hosts if h.state != "unreachable"]
        failed = [h for h in counted if h.state in ("failed", "rolled_back")]
        if not halt and counted and failed:
            share = 100.0 * len(failed) / len(counted)
            if ro.max_fail_percent is not None and share > ro.max_fail_percent:
                halt = f"{len(failed)} of {len(counted)} hosts of wave {wave} failed ({share:.0f}% > --max-fail {ro.max_fail_percent}%)"
            elif ro.max_fail_percent is None and len(failed) == len(counted) and wave < ro.n_waves:
                halt = f"every host of wave {wave} failed"
        ro.completed_waves.append(wave)
        if halt:
            ro.state, ro.reason = "halted", halt
            break
        save_rollout(registry, ro)

    for h in ro.hosts:
        if h.state in ("pending", "running"):
            h.state, h.status = "not_reached", "not_reached"
            h.error = h.error or "the rollout stopped before this host's wave"
            h.step = ""
    if ro.state in ("running", "aborting"):
        ro.state = {"ok": "done", "partial": "partial", "failed": "failed"}[_overall(ro)]
        if current_state(registry, _id(ro)) == "aborting":
            ro.state, ro.reason = "aborted", "aborted by `stratum rollout abort`"
    hosts = host_results(ro)
    result = DeploymentResult(
        action="deploy",
        model=ro.model,
        hosts=hosts,
        project=project.path,
        duration_s=round(time.monotonic() - t0, 2),
        events=events,
    )
    result.rollout = ro
    save_rollout(registry, ro)
    return result


def _roll_back_wave(registry, ro, project, work, wave, passed, reason, pipelining, hook) -> None:
    """Send the wave's hosts that changed release back to the one they served before."""
    moved = [h for h in passed if h.from_release and h.from_release != h.release]
    for h in passed:
        if h not in moved:
            h.error = f"{reason}; " + (
                "it served this release already" if h.from_release else "no previous release to go back to"
            )
    if not moved:
        return
    for h in moved:
        h.state, h.step = "running", "roll back (gate breached)"
    save_rollout(registry, ro)
    outcome = run_project(
        project,
        "rollback",
        private_dir=work / f"runner-wave{wave}-rollback",
        pipelining=pipelining,
        limit=[h.host for h in moved],
        on_event=None,
    )
    failures = outcome.failures
    for h in moved:
        rep = outcome.reports.get(h.host, {})
        if h.host in failures or rep.get("status") != "rolled_back":
            h.state, h.status = "failed", "failed"
            h.error = f"{reason}; rolling back failed: {failures.get(h.host) or rep.get('error') or 'unknown'}"
        else:
            h.state, h.status = "rolled_back", "rolled_back"
            h.release = str(rep.get("serving") or h.from_release)
            h.version = _version_of(h.release)
            h.error = reason
        h.step = "Roll back (gate breached)"


def _overall(ro: Rollout) -> str:
    from ..registry.deployment import overall_status

    return overall_status("deploy", (h.status or h.state for h in ro.hosts))


def host_results(ro: Rollout) -> list[HostResult]:
    return [
        HostResult(
            host=h.host,
            address=h.address,
            port=h.port,
            status=h.status or h.state,
            serving=h.release,
            version=h.version,
            changed=h.changed,
            error=h.error,
        )
        for h in ro.hosts
    ]


# ---------------------------------------------------------------- commands
def rollout_status(name: str, *, registry=None) -> Rollout:
    """The newest rollout of model ``name`` (or ``#ID``)."""
    from .core import use_registry

    return latest_rollout(use_registry(registry), name)


def resume(
    name: str,
    *,
    registry=None,
    on_event: Callable[[DeployEvent], None] | None = None,
    on_update: Callable[[Rollout], None] | None = None,
):
    """Finish the newest rollout of ``name`` whose process died: its unfinished waves run,
    hosts already done (or failed, or rolled back) are left as they are."""
    from .core import _bundle_for, _new_workdir, _record, render_deploy_project, use_registry
    from .inventory import read_inventory

    reg = use_registry(registry)
    ro = latest_rollout(reg, name)
    state = ro.live_state
    if state != "interrupted":
        what = {
            "running": f"is still running (process {ro.owner}); wait for it or `stratum rollout abort {ro.name}`",
            "aborting": f"is being aborted by its process ({ro.owner})",
        }.get(state, f"has finished ({state}); start a new one with `stratum deploy {ro.model} --edge INVENTORY`")
        raise DeployError(f"Rollout #{ro.id} of {ro.model} {what}. Nothing to resume.")
    inv = read_inventory(ro.inventory, ro.limit)
    missing = [h.host for h in ro.hosts if h.host not in inv.names]
    if missing:
        raise DeployError(
            f"The inventory {ro.inventory} no longer has host(s) {', '.join(missing)} of rollout #{ro.id}; "
            "restore them or abort the rollout (`stratum rollout abort NAME`)."
        )
    mv = reg.get(ro.model)
    opts = ro.options
    bundle_dir = _bundle_for(reg, mv.ref, opts.get("bundle"), bool(opts.get("wheelhouse")), bool(opts.get("grpc")))
    work = _new_workdir(reg, mv.ref, "resume")
    project = render_deploy_project(reg, work, inv, mv, bundle_dir, port=ro.port, **_speed_opts(opts))
    if project.release != ro.release:
        raise DeployError(
            f"The bundle of {ro.model} now gives release {project.release}, not {ro.release} as when rollout "
            f"#{ro.id} started; abort it and deploy again."
        )
    ro.owner, ro.state = owner_tag(), "running"
    for h in ro.hosts:
        if h.state == "running":
            h.state = "pending"
    save_rollout(reg, ro)
    pipelining = bool(opts.get("pipelining", True))
    result = run_rollout(reg, ro, inv, project, work, pipelining=pipelining, on_event=on_event, on_update=on_update)
    result.record_id = _record(reg, result, inv, mv.ref, extra=_record_extra(ro))
    ro.deployment_id = result.record_id
    save_rollout(reg, ro)
    return result


def _speed_opts(opts: dict) -> dict:
    return {
        k: opts[k]
        for k in ("online", "pipelining", "control_persist", "free", "forks", "quick_rerun", "runtime", "base")
        if k in opts
    }


def _record_extra(ro: Rollout) -> dict:
    extra: dict = {"release": ro.release, "rollout_id": ro.id, "rollout_state": ro.state}
    if ro.options.get("runtime"):
        extra["runtime"] = ro.options["runtime"]  # the monitor asks docker hosts' engines for stats
    if ro.waves:
        extra["waves"] = ro.waves
    if ro.max_fail_percent is not None:
        extra["max_fail_percent"] = ro.max_fail_percent
    if ro.waves or ro.max_fail_percent is not None:
        extra["halted"] = ro.state in ("halted", "aborted")
    if ro.gate.soak_s:
        extra["gate"] = {
            "soak_s": ro.gate.soak_s,
            "max_error_rate": ro.gate.max_error_rate,
            "max_p99_ms": ro.gate.max_p99_ms,
        }
    return extra


def abort(name: str, *, registry=None) -> Rollout:
    """Stop the newest rollout of ``name``: a running one stops before its next wave (the
    wave in progress finishes); an interrupted one is closed now. Hosts not yet deployed
    keep their release (``not_reached``)."""
    from .core import use_registry

    reg = use_registry(registry)
    ro = latest_rollout(reg, name)
    if ro.state in FINISHED:
        raise DeployError(f"Rollout #{ro.id} of {ro.model} has already finished ({ro.state}); nothing to abort.")
    if ro.live_state == "interrupted":
        for h in ro.hosts:
            if h.state in ("pending", "running"):
                h.state, h.status, h.error = "not_reached", "not_reached", "the rollout was aborted"
        ro.state, ro.reason = "aborted", "aborted by `stratum rollout abort` (its process had stopped)"
        return save_rollout(reg, ro)
    return set_state(reg, _id(ro), "aborting", "aborted by `stratum rollout abort`")


def _id(ro: Rollout) -> int:
    """A saved rollout's id (every rollout the driver runs was saved first)."""
    if ro.id is None:
        raise DeployError("this rollout was never saved in the registry, so it has no id")
    return ro.id
