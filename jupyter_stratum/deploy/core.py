"""deploy / rollback / undeploy: generate the project, run it, record what happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..registry import Registry, open_registry
from ..registry.deployment import Deployment, HostResult, host_failed, overall_status
from ..registry.lineage import current_user
from ..registry.rollout import Rollout
from .inventory import EdgeInventory, read_inventory
from .project import DeployProject, render_project
from .release import version_of_release as _version_of
from .runner import DeployEvent, RunOutcome, run_project, syntax_check

if TYPE_CHECKING:
    from .progress import DeploymentTable


#: the ``stratum deploy|rollback|undeploy`` exit status for each outcome (1 is left to
#: Python's own crashes, 2 to usage and configuration errors)
EXIT_CODES = {"ok": 0, "partial": 3, "failed": 4}
EXIT_CODES_HELP = (
    "Exit status: 0 when every host did what was asked, 3 when some hosts failed or were unreachable "
    "(partial), 4 when every host failed, 2 for a usage or configuration error; the table lists each host."
)


@dataclass
class DeploymentResult:
    """The outcome of one deploy / rollback / undeploy: per-host results and the record."""

    action: str
    model: str  # NAME@VERSION (or NAME for undeploy/rollback)
    hosts: list[HostResult]
    project: Path
    duration_s: float
    dry_run: bool = False
    record_id: int | None = None
    events: list[DeployEvent] = field(default_factory=list, repr=False)
    #: the rollout record of a deploy (waves, each host's state, the gates' figures)
    rollout: Rollout | None = field(default=None, repr=False)
    #: lines the summary prints under its head (a dry run: what it did not do)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def status(self) -> str:
        """``ok`` (every host did what was asked), ``partial`` or ``failed`` (every host failed)."""
        return overall_status(self.action, (h.status for h in self.hosts))

    @property
    def exit_code(self) -> int:
        """The ``stratum`` CLI's exit status for this result: 0 ok, 3 partial, 4 failed (see EXIT_CODES)."""
        return EXIT_CODES[self.status]

    @property
    def failed_hosts(self) -> list[HostResult]:
        return [h for h in self.hosts if host_failed(self.action, h.status)]

    @property
    def changed(self) -> bool:
        return any(h.changed for h in self.hosts)

    def host(self, name: str) -> HostResult:
        return next(h for h in self.hosts if h.host == name)

    def rows(self) -> list[dict]:
        wave = {h.host: h for h in self.rollout.hosts} if self.rollout is not None else {}
        out = []
        for h in self.hosts:
            rh = wave.get(h.host)
            out.append(
                {
                    "host": h.host,
                    "address": f"{h.address}:{h.port}",
                    "status": h.status,
                    "version": h.version,
                    "from": rh.from_version if rh is not None else "",
                    "wave": rh.wave if rh is not None else "",
                    "step": rh.step if rh is not None else "",
                    "seconds": rh.seconds if rh is not None else "",
                    "release": h.serving,
                    "changed": h.changed,
                    "error": h.error,
                }
            )
        return out

    def to_text(self) -> str:
        from .progress import summary_text

        return summary_text(self)

    def _repr_html_(self) -> str:
        from .progress import summary_html

        return summary_html(self)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.to_text())


def deployments_home(registry) -> Path:
    return Path(registry.root) / "deployments"


def _new_workdir(registry, model: str, action: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")[:-3]
    d = deployments_home(registry) / f"{model.replace('@', '-v')}-{action}-{stamp}"
    d.mkdir(parents=True)
    return d


def use_registry(registry: Registry | None) -> Registry:
    """``registry``, else the default registry (``$STRATUM_HOME``)."""
    return registry if registry is not None else open_registry()


def _bundle_for(registry, ref: str, bundle: str | Path | None, wheelhouse: bool = False, grpc: bool = False) -> Path:
    """The bundle directory of ``ref``: given, else built once per model version and cached
    under the registry (the same bundle gives the same release id, so re-runs change nothing).
    ``grpc``: some host serves gRPC too (``--grpc-port`` in its ``stratum_serve_args``), so grpcio is pinned."""
    if bundle is not None:
        return Path(bundle)
    from ..bundle import build_bundle

    mv = registry.get(ref)
    suffix = ("-wheelhouse" if wheelhouse else "") + ("-grpc" if grpc else "")
    cache = Path(registry.root) / "bundles" / f"{mv.name}-{mv.version}{suffix}"
    if (cache / "manifest.json").exists():
        return cache
    b = build_bundle(mv.ref, cache, wheelhouse=wheelhouse, registry=registry, force=True, tarball=False, grpc=grpc)
    return Path(b.path)


def deploy(
    ref: str,
    inventory: str | Path,
    *,
    limit: str | None = None,
    port: int | None = None,
    serial: int | None = None,
    waves: str | list[int | str] | None = None,
    max_fail: str | int | None = None,
    soak: str | float | None = None,
    max_error_rate: str | float | None = None,
    max_p99_ms: float | None = None,
    dry_run: bool = False,
    pipelining: bool = True,
    control_persist: bool = True,
    free: bool = True,
    forks: int | None = None,
    quick_rerun: bool = True,
    bundle: str | Path | None = None,
    wheelhouse: bool = False,
    online: bool = False,
    runtime: str | None = None,
    base: str | None = None,
    registry: Registry | None = None,
    on_event: Callable[[DeployEvent], None] | None = None,
    on_update: Callable[[Rollout], None] | None = None,
) -> DeploymentResult:
    """Deploy model ``ref`` (``NAME`` or ``NAME@V``) to the hosts of ``inventory``.

    Generates an Ansible project, runs it with ansible-runner (events go to ``on_event``)
    and records the deployment in the registry. A host whose new release fails after
    the switch goes back to its previous release and is reported ``rolled_back``.
    ``dry_run`` generates the project and runs a syntax check and check mode only: it acts on
    nothing (the docker runtime's image may be built here, but it is pushed to no registry).

    Every deploy is a rollout recorded in the registry (see :mod:`.rollout`; ``on_update``
    gets the record whenever a host's state changes). ``waves`` (``"1,25%,100%"``, or
    ``serial=N``) deploys batch after batch; each wave is checked (health, the sample
    prediction, then its metrics over ``soak``: ``max_error_rate``, ``max_p99_ms``; see
    :mod:`.gate`) before the next. A breach rolls the wave back and halts the rollout;
    ``max_fail`` (``"10%"``) halts it when more of a wave failed. Later hosts keep their
    release and are reported ``not_reached``.

    Hosts install the bundle's requirements without a package index unless ``online``:
    from their own packages, else from wheels this machine downloads for their Python
    and platform (cached under the registry) and ships once per host.

    Speed settings (all on by default; the benchmark turns them off one by one): SSH
    ``pipelining``, persistent SSH connections (``control_persist``), the ``free``
    strategy, ``forks`` (default: one per host, at most 50), and ``quick_rerun`` (each host is
    asked once whether it already serves the release as asked; then nothing else runs there).

    ``runtime="docker"`` (or ``stratum_runtime: docker`` on a host in the inventory) deploys the
    bundle's image instead (built on ``$DOCKER_HOST`` from ``base`` when missing; see
    :mod:`.docker_image`): a new container is checked beside the serving one, then switched to.
    """
    from .docker_image import check_runtime

    check_runtime(runtime)
    from .gate import make_gate
    from .rollout import _record_extra, new_rollout, run_rollout
    from .waves import parse_max_fail, parse_waves

    batches = parse_waves(waves) if isinstance(waves, str) or waves is None else list(waves)
    if batches is None and serial:
        batches = [int(serial)]
    max_fail_pct = parse_max_fail(max_fail)
    gate = make_gate(soak, max_error_rate, max_p99_ms, waves=bool(batches))
    reg = use_registry(registry)
    mv = reg.get(ref)
    inv = read_inventory(inventory, limit)
    t0 = time.monotonic()
    grpc = any("--grpc-port" in str(h.vars.get("stratum_serve_args", "")) for h in inv.hosts)
    bundle_dir = _bundle_for(reg, mv.ref, bundle, wheelhouse, grpc)
    work = _new_workdir(reg, mv.ref, "dry-run" if dry_run else "deploy")
    speed: dict[str, Any] = {
        "pipelining": pipelining,
        "control_persist": control_persist,
        "free": free,
        "forks": forks,
        "quick_rerun": quick_rerun,
    }
    if runtime is not None or base is not None:
        speed.update(runtime=runtime, base=base)
    project = render_deploy_project(reg, work, inv, mv, bundle_dir, port=port, online=online, dry_run=dry_run, **speed)
    syntax_check(project, "deploy")
    if dry_run:
        outcome = run_project(
            project, "deploy", private_dir=work / "runner", check=True, pipelining=pipelining, on_event=on_event
        )
        result = _result("deploy", mv.ref, inv, project, outcome, time.monotonic() - t0, dry_run=True, port_arg=port)
        from .docker_image import would_push

        result.notes = [f"would push {ref} (not pushed: dry run)" for ref in would_push(runtime, inv, bundle_dir)]
        return result
    options: dict[str, Any] = {"online": online, "wheelhouse": wheelhouse, "grpc": grpc, **speed}
    if bundle is not None:
        options["bundle"] = str(bundle)
    ro = new_rollout(reg, mv.ref, project.release or "", inv, batches, max_fail_pct, gate, port, options)
    result = run_rollout(reg, ro, inv, project, work, pipelining=pipelining, on_event=on_event, on_update=on_update)
    result.duration_s = round(time.monotonic() - t0, 2)
    result.record_id = _record(reg, result, inv, mv.ref, extra=_record_extra(ro))
    ro.deployment_id = result.record_id
    from ..registry.rollout import save_rollout

    save_rollout(reg, ro)
    return result


def render_deploy_project(
    reg,
    work: Path,
    inv: EdgeInventory,
    mv,
    bundle_dir: Path,
    *,
    port: int | None = None,
    online: bool = False,
    pipelining: bool = True,
    control_persist: bool = True,
    free: bool = True,
    forks: int | None = None,
    quick_rerun: bool = True,
    runtime: str | None = None,
    base: str | None = None,
    dry_run: bool = False,
) -> DeployProject:
    """The deploy project of ``mv`` for ``inv`` (waves are run by :mod:`.rollout`, one run per wave).

    ``dry_run``: the docker runtime's image may be built, but it is pushed to no registry."""
    from .docker_image import image_vars, registries_of, wants_docker

    settings: dict[str, object] = {"stratum_wheel_cache": str(Path(reg.root) / "wheels")}
    if runtime is not None:
        settings["stratum_runtime"] = runtime
    if wants_docker(runtime, inv):
        registries = registries_of(runtime, inv)
        settings.update(image_vars(reg, bundle_dir, base=base, registries=registries, dry_run=dry_run))
    if online:
        settings["stratum_pip_index"] = True
    if not quick_rerun:
        settings["stratum_quick_rerun"] = False
    return render_project(
        work / "project",
        inv,
        model=mv.name,
        bundle_dir=bundle_dir,
        port=port,
        pipelining=pipelining,
        control_persist=control_persist,
        free=free,
        forks=forks,
        extra_vars=settings,
    )


def rollback(
    name: str,
    inventory: str | Path,
    *,
    limit: str | None = None,
    registry=None,
    pipelining: bool = True,
    on_event: Callable[[DeployEvent], None] | None = None,
) -> DeploymentResult:
    """Switch every host back to the release that served before the current one."""
    return _simple(
        "rollback", name, inventory, limit=limit, registry=registry, pipelining=pipelining, on_event=on_event
    )


def undeploy(
    name: str,
    inventory: str | Path,
    *,
    limit: str | None = None,
    registry=None,
    pipelining: bool = True,
    on_event: Callable[[DeployEvent], None] | None = None,
) -> DeploymentResult:
    """Stop the model's service and remove its files from every host."""
    return _simple(
        "undeploy", name, inventory, limit=limit, registry=registry, pipelining=pipelining, on_event=on_event
    )


def _simple(action: str, name: str, inventory, *, limit, registry, pipelining, on_event) -> DeploymentResult:
    from ..registry import parse_ref

    reg = use_registry(registry)
    model, _ = parse_ref(name)
    live = reg.live_deployment(model)
    model_ref = live.model if live is not None else reg.get(model).ref
    inv = read_inventory(inventory, limit)
    t0 = time.monotonic()
    work = _new_workdir(reg, model, action)
    project = render_project(work / "project", inv, model=model, pipelining=pipelining)
    outcome = run_project(project, action, private_dir=work / "runner", pipelining=pipelining, on_event=on_event)
    result = _result(action, model, inv, project, outcome, time.monotonic() - t0)
    result.record_id = _record(reg, result, inv, model_ref)
    return result


def _result(
    action: str,
    model: str,
    inv: EdgeInventory,
    project: DeployProject,
    outcome: RunOutcome,
    duration: float,
    dry_run: bool = False,
    port_arg: int | None = None,
) -> DeploymentResult:
    failed_hosts = set((outcome.stats.get("failures") or {}).keys())
    dark = set((outcome.stats.get("dark") or {}).keys())
    reached = {e.host for e in outcome.events}
    hosts = []
    for h in inv.hosts:
        rep = outcome.reports.get(h.name, {})
        changed = outcome.changed.get(h.name, 0)
        check = rep.get("check")
        if not isinstance(check, dict):
            check = {}
        # the port the host's serving release really listens on (its check says), else the
        # one it was asked to use
        port = int(check.get("port") or h.port_for(port_arg))
        serving = rep.get("serving", "")
        error = ""
        if h.name in dark:
            status, error = "unreachable", outcome.failures.get(h.name, "unreachable")
        elif h.name not in reached:
            status, error = "not_reached", "the rollout halted before this host's wave"
        elif dry_run:
            status = "failed" if h.name in failed_hosts else "checked"
            error = outcome.failures.get(h.name, "") if status == "failed" else ""
        elif rep.get("status") == "rolled_back" and action == "deploy":
            status, error = "rolled_back", rep.get("error") or outcome.failures.get(h.name, "")
        elif h.name in failed_hosts:
            status, error = "failed", rep.get("error") or outcome.failures.get(h.name, "failed")
        elif action == "undeploy":
            status = "removed" if changed else "unchanged"
        elif action == "rollback":
            status = "rolled_back"
        else:
            status = "changed" if changed else "unchanged"
        hosts.append(
            HostResult(
                host=h.name,
                address=h.address,
                port=port,
                status=status,
                serving=serving,
                version=_version_of(serving),
                changed=changed,
                error=error,
            )
        )
    return DeploymentResult(
        action=action,
        model=model,
        hosts=hosts,
        project=project.path,
        duration_s=round(duration, 2),
        dry_run=dry_run,
        events=outcome.events,
    )


def _record(reg, result: DeploymentResult, inv: EdgeInventory, model_ref: str, extra: dict | None = None) -> int:
    record = {
        "model": model_ref,
        "action": result.action,
        "status": result.status,
        "changed": result.changed,
        "hosts": [h.to_record() for h in result.hosts],
        "inventory": str(inv.source),
        "limit": inv.limit,
        "project": str(result.project),
        "duration_s": result.duration_s,
        "user": current_user(),
        **(extra or {}),
    }
    return reg.record_deployment(record)


def list_deployments(name: str | None = None, *, registry: Registry | None = None) -> DeploymentTable:
    """Deployment records of the registry (of one model when ``name`` is given), newest last."""
    from .progress import DeploymentTable

    return DeploymentTable(use_registry(registry).deployments(name))


def last_deployment(name: str, *, registry: Registry | None = None) -> Deployment | None:
    """The newest live deployment of ``name`` (see :meth:`Registry.live_deployment`), or None."""
    return use_registry(registry).live_deployment(name)
