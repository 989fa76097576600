"""Running a generated project with ansible-runner and turning its events into ours."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeployError
from .project import DeployProject

#: ansible-runner event -> our status
_STATUS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


@dataclass
class DeployEvent:
    """One host finished one step of a deployment (or the run ended: ``step='summary'``)."""

    host: str
    step: str
    status: str  # ok | changed | failed | skipped | unreachable | rescued
    message: str = ""
    action: str = "deploy"
    time: float = field(default_factory=time.time)
    #: what the role reported at the end of the host's run (status, serving, previous, error)
    report: dict | None = field(default=None, repr=False)

    def to_line(self) -> str:
        msg = f"  {self.message}" if self.message and self.status in ("failed", "unreachable") else ""
        return f"{self.host:<14} {self.status:<11} {self.step}{msg}"


@dataclass
class RunOutcome:
    """What one ansible-runner run did, per host."""

    rc: int
    status: str
    stats: dict
    reports: dict[str, dict]
    failures: dict[str, str]
    changed: dict[str, int]
    events: list[DeployEvent]
    duration_s: float
    artifacts: Path


def ansible_env(pipelining: bool) -> dict[str, str]:
    """Environment for ansible-playbook: this interpreter's bin on PATH (ansible-runner
    needs ``ansible-playbook`` there), pipelining, no colour, no cows."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        path = bindir + os.pathsep + path
    return {
        "PATH": path,
        "ANSIBLE_PIPELINING": "True" if pipelining else "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_NOCOWS": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
    }


def run_project(
    project: DeployProject,
    action: str,
    *,
    private_dir: Path,
    check: bool = False,
    pipelining: bool = True,
    limit: list[str] | None = None,
    on_event: Callable[[DeployEvent], None] | None = None,
) -> RunOutcome:
    """Run ``<action>.yml`` of ``project`` with ansible-runner (on the hosts ``limit`` names,
    else all of the project's); stream :class:`DeployEvent`."""
    import ansible_runner

    if not shutil.which("ansible-playbook", path=ansible_env(pipelining)["PATH"]):
        raise DeployError(
            "ansible-playbook is not installed: pip install ansible-core (jupyter-stratum depends on it)."
        )
    events: list[DeployEvent] = []
    reports: dict[str, dict] = {}
    failures: dict[str, str] = {}
    stats: dict = {}

    def handler(ev: dict) -> bool:
        kind = ev.get("event", "")
        data = ev.get("event_data") or {}
        if kind == "playbook_on_stats":
            stats.update(
                {k: data.get(k) or {} for k in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")}
            )
            return True
        if kind not in _STATUS:
            return True
        host = data.get("host", "?")
        task = (data.get("task") or "").strip()
        res = data.get("res") or {}
        status = _STATUS[kind]
        if status == "ok" and res.get("changed"):
            status = "changed"
        msg = res.get("msg")
        report = msg.get("stratum_report") if isinstance(msg, dict) else None
        if report is not None:
            reports[host] = report
        message = ""
        if status in ("failed", "unreachable"):
            message = _failure_message(res)
            if data.get("ignore_errors"):
                status = "ok"
            elif data.get("rescued") is None:
                failures[host] = message
        dev = DeployEvent(host=host, step=task, status=status, message=message, action=action, report=report)
        events.append(dev)
        if on_event is not None:
            try:
                on_event(dev)
            except Exception:  # a display error must not break the deployment  # noqa: BLE001
                pass
        return True

    private_dir = Path(private_dir)
    private_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    r = ansible_runner.run(
        private_data_dir=str(private_dir),
        project_dir=str(project.path),
        playbook=project.playbook(action),
        inventory=str(project.inventory),
        envvars={**ansible_env(pipelining), "ANSIBLE_CONFIG": str(project.config)},
        cmdline="--check" if check else None,
        limit=",".join(limit) if limit else None,
        event_handler=handler,
        quiet=True,
        suppress_env_files=True,
    )
    duration = time.monotonic() - t0
    # the runner keeps the full command environment in artifacts/*/command: drop it,
    # the user's environment may hold tokens
    for cmd in private_dir.glob("artifacts/*/command"):
        cmd.unlink(missing_ok=True)
    # a failure inside a rescued block is not the host's final failure
    for host in list(failures):
        if host in reports and reports[host].get("status") in ("deployed", "removed"):
            failures.pop(host)
    if r.rc == 127 or (r.rc != 0 and not stats):
        out = ""
        try:
            out = r.stdout.read()[-2000:]
        except Exception:  # noqa: BLE001
            pass
        raise DeployError(f"ansible-playbook could not run {action}.yml (rc {r.rc}): {out.strip()}")
    changed = {h: int(n) for h, n in (stats.get("changed") or {}).items()}
    return RunOutcome(
        rc=r.rc,
        status=r.status,
        stats=stats,
        reports=reports,
        failures=failures,
        changed=changed,
        events=events,
        duration_s=duration,
        artifacts=private_dir / "artifacts",
    )


def syntax_check(project: DeployProject, action: str = "deploy") -> None:
    """``ansible-playbook --syntax-check``; raises :class:`DeployError` with its message."""
    import subprocess

    env = {**os.environ, **ansible_env(True), "ANSIBLE_CONFIG": str(project.config)}
    r = subprocess.run(
        ["ansible-playbook", "--syntax-check", project.playbook(action)],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise DeployError(f"The generated {action}.yml failed Ansible's syntax check: {(r.stderr or r.stdout).strip()}")


def _failure_message(res: dict) -> str:
    for key in ("stderr", "msg", "module_stderr", "stdout"):
        val = res.get(key)
        if isinstance(val, str) and val.strip():
            return val.strip().splitlines()[-1][:500] if key != "msg" else val.strip()[:500]
    return "failed"
