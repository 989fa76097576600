"""Deploying real bundles to three real edge hosts over SSH with Ansible.

One story, in order (each step depends on the one before, as on a real fleet):
dry run → deploy v1 → unchanged re-run → v2 while edge3 fails its check (edge3 rolls
back and keeps serving v1) → rollback command → undeploy → no secret anywhere.
The front-end is the CLI command path (`stratum deploy ...`), whose printed lines
are kept to check them for secrets at the end.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import psutil
import pytest

from jupyter_stratum.commands import CommandContext, parse, run
from jupyter_stratum.testing import port_open, predict, served_version, wait_closed

pytestmark = [pytest.mark.netns, pytest.mark.slow]

#: a secret the inventory carries (unused by SSH here): it must never be written anywhere
BECOME_SECRET = "s3cr3t-" + secrets.token_hex(8)
OUTPUT: list[str] = []


def stratum(*argv: str):
    """Run a `stratum` CLI command in-process; keep what it printed."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        args = parse(list(argv))
        result = run(args, CommandContext(interactive=False))
        print(result.to_text() if hasattr(result, "to_text") else result)
    OUTPUT.append(buf.getvalue())
    return result


@pytest.fixture(scope="module")
def fleet(edge_hosts, deploy_registry, tmp_path_factory, write_inventory):
    inv = write_inventory(
        edge_hosts,
        tmp_path_factory.mktemp("inv") / "edge.ini",
        host_vars={"edge1": {"ansible_become_password": BECOME_SECRET}},
    )
    return {"hosts": edge_hosts, "reg": deploy_registry, "inv": inv, "home": str(deploy_registry.root)}


def _urls(fleet):
    return {h.name: h.url for h in fleet["hosts"].hosts}


def test_dry_run_generates_a_checked_project_and_starts_nothing(fleet, tmp_path):
    # plus a host nobody answers at (an address of our own namespace's subnet, no sshd)
    lines = fleet["inv"].read_text().splitlines()
    edge1 = next(line for line in lines if line.startswith("edge1 "))
    addr = fleet["hosts"].hosts[0].address
    ghost = edge1.replace("edge1 ", "ghost ", 1).replace(addr, addr[:-1] + "3")
    inv = tmp_path / "with-ghost.ini"
    inv.write_text("\n".join(lines[:1] + [ghost] + lines[1:]) + "\n")
    res = stratum("deploy", "cancer@1", "--edge", str(inv), "--dry-run", "--home", fleet["home"])
    by = {h.host: h for h in res.hosts}
    assert res.dry_run and res.status == "partial", res.to_text()
    assert [by[h].status for h in ("edge1", "edge2", "edge3")] == ["checked"] * 3, res.to_text()
    assert by["ghost"].status == "unreachable" and by["ghost"].error
    project = Path(res.project)
    for f in (
        "deploy.yml",
        "rollback.yml",
        "undeploy.yml",
        "ansible.cfg",
        "inventory/hosts.yml",
        "vars/deployment.yml",
        "roles/stratum_model/tasks/deploy.yml",
        "README.md",
    ):
        assert (project / f).is_file(), f
    assert list((project / "files").glob("cancer-v1-*.tar.gz"))
    for h in fleet["hosts"].hosts:
        assert not port_open(h.address, h.serve_port)
    assert fleet["reg"].list_deployments("cancer") == []  # a dry run records nothing


def test_deploy_v1_to_three_hosts_and_predict_over_http(fleet):
    res = stratum("deploy", "cancer@1", "--edge", str(fleet["inv"]), "--home", fleet["home"])
    assert res.status == "ok", res.to_text()
    assert [h.status for h in res.hosts] == ["changed"] * 3
    assert {h.version for h in res.hosts} == {"1"}
    v1 = fleet["reg"].fitted[1]
    X = v1.X_test.head(40)
    for name, url in _urls(fleet).items():
        assert served_version(url) == "1", name
        assert predict(url, X) == v1.model.predict(X).tolist(), name
    rec = fleet["reg"].list_deployments("cancer")[-1]
    assert rec["model"] == "cancer@1" and rec["action"] == "deploy" and rec["status"] == "ok"
    assert {h["host"]: (h["status"], h["version"]) for h in rec["hosts"]} == {
        "edge1": ("changed", "1"),
        "edge2": ("changed", "1"),
        "edge3": ("changed", "1"),
    }
    assert Path(rec["project"]).is_dir() and rec["user"]
    # the generated project is plain Ansible: syntax-checks with ansible-playbook alone
    from jupyter_stratum.deploy.project import DeployProject
    from jupyter_stratum.deploy.runner import syntax_check

    syntax_check(DeployProject(path=Path(rec["project"]), model="cancer"), "deploy")


def test_unchanged_rerun_reports_no_changes(fleet):
    before = {h.name: served_version(h.url) for h in fleet["hosts"].hosts}
    res = stratum("deploy", "cancer@1", "--edge", str(fleet["inv"]), "--home", fleet["home"])
    assert res.status == "ok" and not res.changed, res.to_text()
    assert [h.status for h in res.hosts] == ["unchanged"] * 3
    assert {h.name: served_version(h.url) for h in fleet["hosts"].hosts} == before
    # the notebook's progress view renders from the same events: host x step counts
    from jupyter_stratum.deploy.progress import DeployProgress

    view = DeployProgress([h.host for h in res.hosts], "re-run")
    for ev in res.events:
        view(ev)
    assert all(view.counts[h]["changed"] == 0 and view.counts[h]["failed"] == 0 for h in view.hosts)
    # one round trip per host says nothing is to be done: the full path (copy, unpack, ...) is skipped
    assert all(view.counts[h]["ok"] >= 3 for h in view.hosts)
    ran = {ev.step for ev in res.events if ev.status != "skipped"}
    assert (
        any(step.startswith("Ask whether it already serves as asked") for step in ran)
        and "Copy the bundle (only when it changed)" not in ran
    )
    assert "edge3" in view.widget.value and "Report the release serving" in view.widget.value


def test_v2_with_a_failing_host_rolls_that_host_back(fleet, tmp_path, write_inventory):
    # edge3's inventory gives the new release a setting the runtime rejects: its service
    # exits, the health check fails, and the host must go back to v1
    bad = write_inventory(
        fleet["hosts"],
        tmp_path / "edge-bad.ini",
        host_vars={
            "edge1": {"ansible_become_password": BECOME_SECRET},
            "edge3": {"stratum_serve_args": "--no-such-option"},
        },
    )
    res = stratum("deploy", "cancer@2", "--edge", str(bad), "--home", fleet["home"])
    by = {h.host: h for h in res.hosts}
    assert res.status == "partial" and res.exit_code == 3, res.to_text()
    assert "1 of 3 hosts failed: edge3" in res.to_text()
    assert (by["edge1"].status, by["edge1"].version) == ("changed", "2")
    assert (by["edge2"].status, by["edge2"].version) == ("changed", "2")
    assert (by["edge3"].status, by["edge3"].version) == ("rolled_back", "1")
    assert "no-such-option" in by["edge3"].error
    v1, v2 = fleet["reg"].fitted[1], fleet["reg"].fitted[2]
    X = v1.X_test
    urls = _urls(fleet)
    for name in ("edge1", "edge2"):
        assert served_version(urls[name]) == "2"
        assert predict(urls[name], X) == v2.model.predict(X).tolist()
    assert served_version(urls["edge3"]) == "1"
    assert predict(urls["edge3"], X) == v1.model.predict(X).tolist()
    rec = fleet["reg"].list_deployments("cancer")[-1]
    assert rec["model"] == "cancer@2" and rec["status"] == "partial"
    assert {h["host"]: (h["status"], h["version"]) for h in rec["hosts"]} == {
        "edge1": ("changed", "2"),
        "edge2": ("changed", "2"),
        "edge3": ("rolled_back", "1"),
    }


def test_rollback_command_goes_back_to_the_previous_release(fleet):
    res = stratum("rollback", "cancer", "--edge", str(fleet["inv"]), "--limit", "edge1", "--home", fleet["home"])
    assert [(h.host, h.status, h.version) for h in res.hosts] == [("edge1", "rolled_back", "1")], res.to_text()
    assert res.status == "ok" and res.exit_code == 0, res.to_text()  # rolled_back is what a rollback asks for
    urls = _urls(fleet)
    assert served_version(urls["edge1"]) == "1"
    assert served_version(urls["edge2"]) == "2"
    listing = stratum("deployments", "cancer", "--home", fleet["home"])
    assert [r.action for r in listing] == ["deploy", "deploy", "deploy", "rollback"]


def test_a_rerun_restarts_a_service_left_on_the_old_release(fleet):
    """A deploy killed between switching ``current`` and restarting the service leaves the host with
    ``current`` on the new release and the old one still answering (with the same sample predictions):
    the re-run must restart it, not call it unchanged."""
    edge2 = next(h for h in fleet["hosts"].hosts if h.name == "edge2")
    home = Path(edge2.root) / "models" / "cancer"
    v2 = (home / "current").resolve()
    v1 = (home / "previous").resolve()
    assert served_version(edge2.url) == "2" and v1 != v2

    def helper(*argv: str) -> subprocess.CompletedProcess:
        cmd = ["ip", "netns", "exec", edge2.namespace, "/usr/bin/python3", str(home / "bin" / "stratum_host.py")]
        return subprocess.run([*cmd, *argv, "--home", str(home)], capture_output=True, text=True, timeout=120)

    (home / "current").unlink()
    (home / "current").symlink_to(v1)
    assert helper("restart").returncode == 0
    assert helper("check").returncode == 0  # v1 serves ...
    (home / "current").unlink()
    (home / "current").symlink_to(v2)  # ... and the deploy of v2 was killed right after its switch
    assert served_version(edge2.url) == "1"
    check = helper("check")  # the same sample predictions, but the host's own check tells
    assert check.returncode != 0 and f"runs release {v1.name}, not {v2.name}" in check.stderr, check.stderr
    res = stratum("deploy", "cancer@2", "--edge", str(fleet["inv"]), "--limit", "edge2", "--home", fleet["home"])
    assert [(h.host, h.status) for h in res.hosts] == [("edge2", "changed")], res.to_text()
    assert served_version(edge2.url) == "2"
    assert (home / "previous").resolve() == v1  # still the release to go back to


def test_undeploy_leaves_no_service_running(fleet):
    res = stratum("undeploy", "cancer", "--edge", str(fleet["inv"]), "--home", fleet["home"])
    assert [h.status for h in res.hosts] == ["removed"] * 3, res.to_text()
    for h in fleet["hosts"].hosts:
        assert wait_closed(h.address, h.serve_port), f"{h.name} still serves"
        assert not (Path(h.root) / "models" / "cancer").exists()
        left = [
            p.info["pid"]
            for p in psutil.process_iter(["pid", "cmdline"])
            if str(Path(h.root) / "models") in " ".join(p.info["cmdline"] or [])
        ]
        assert left == [], f"processes left on {h.name}: {left}"
    assert fleet["reg"].list_deployments("cancer")[-1]["action"] == "undeploy"


def test_no_secret_in_projects_registry_or_output(fleet):
    key_lines = [
        line.strip()
        for line in fleet["hosts"].key_path.read_text().splitlines()
        if line.strip() and "PRIVATE KEY" not in line
    ]
    assert key_lines and len(OUTPUT) >= 6
    needles = [line.encode() for line in key_lines] + [BECOME_SECRET.encode(), b"PRIVATE KEY"]
    places = [p for p in Path(fleet["home"]).rglob("*") if p.is_file()]  # registry, projects, runner artifacts
    assert (
        any(p.name == "hosts.yml" for p in places)
        and any(p.suffix == ".db" or "sqlite" in p.name for p in places)
        or any(p.name.endswith((".db", ".sqlite", ".sqlite3")) for p in places)
    )
    for path in places:
        data = path.read_bytes()
        for n in needles:
            assert n not in data, f"{n[:12]!r}... found in {path}"
    text = "\n".join(OUTPUT).encode()
    for n in needles:
        assert n not in text


def stratum_cli(*argv: str) -> subprocess.CompletedProcess:
    """The `stratum` command as CI or cron runs it: a separate process, its exit status."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_stratum.cli", *argv], capture_output=True, text=True, env=env, timeout=600
    )


def test_cli_exit_status_says_partial_or_failed_and_the_table_shows_the_port_served(fleet, tmp_path):
    """Exit status 3 when some hosts failed, 4 when all did; a host asked with --port 8511
    serves on 8511 and the table says so. Runs in its own registry and stratum_root, so
    the story above is untouched."""
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.testing import bundle_lineage

    v1 = fleet["reg"].fitted[1]
    home = tmp_path / "cli-home"
    open_registry(home).register("cli", v1.model, lineage=bundle_lineage(v1.model, v1.X_test, v1.X_test.head(5)))
    edge1 = fleet["hosts"].hosts[0]
    line = next(x for x in fleet["inv"].read_text().splitlines() if x.startswith("edge1 "))
    # no stratum_port in the inventory (so --port applies), a root of its own, plus a host nobody answers at
    line = " ".join(w for w in line.split() if not w.startswith(("stratum_port=", "stratum_root=")))
    line += f" stratum_root={tmp_path / 'cli-root'}"
    ghost = line.replace("edge1 ", "ghost ", 1).replace(edge1.address, edge1.address[:-1] + "3")
    group_vars = fleet["inv"].read_text().split("[edge:vars]", 1)[1]
    inv = tmp_path / "cli.ini"
    inv.write_text(f"[edge]\n{line}\n{ghost}\n\n[edge:vars]{group_vars}")

    port = 8511 if fleet["hosts"].mode == "netns" else edge1.serve_port + 11
    first = stratum_cli("deploy", "cli", "--edge", str(inv), "--port", str(port), "--home", str(home))
    assert first.returncode == 3, first.stdout + first.stderr
    assert "deploy cli@1: partial (1 of 2 hosts failed: ghost)" in first.stdout, first.stdout
    rows = {r.split()[0]: r.split() for r in first.stdout.splitlines()[1:] if r.split()[:1] in (["edge1"], ["ghost"])}
    assert rows["edge1"][1:4] == [f"{edge1.address}:{port}", "changed", "1"], first.stdout
    assert rows["ghost"][2] == "unreachable", first.stdout
    assert served_version(f"http://{edge1.address}:{port}") == "1"
    assert predict(f"http://{edge1.address}:{port}", v1.X_test.head(5)) == v1.model.predict(v1.X_test.head(5)).tolist()
    (rec,) = open_registry(home).deployments("cli")
    assert rec.status == "partial" and {h.host: (h.status, h.port) for h in rec.hosts} == {
        "edge1": ("changed", port),
        "ghost": ("unreachable", port),  # the port it was asked to serve on
    }

    everyone_down = stratum_cli("deploy", "cli", "--edge", str(inv), "--limit", "ghost", "--home", str(home))
    assert everyone_down.returncode == 4, everyone_down.stdout + everyone_down.stderr
    assert "deploy cli@1: failed (1 of 1 hosts failed: ghost)" in everyone_down.stdout

    gone = stratum_cli("undeploy", "cli", "--edge", str(inv), "--home", str(home))
    assert gone.returncode == 3, gone.stdout + gone.stderr
    assert wait_closed(edge1.address, port)
    ok = stratum_cli("undeploy", "cli", "--edge", str(inv), "--limit", "edge1", "--home", str(home))
    assert ok.returncode == 0 and "undeploy cli: ok" in ok.stdout, ok.stdout + ok.stderr

    helped = stratum_cli("deploy", "--help")
    assert (
        helped.returncode == 0 and "3 when some hosts failed" in helped.stdout and "4 when every host" in helped.stdout
    )


def test_a_host_without_a_pinned_library_gets_its_wheel_once_with_no_index(fleet, tmp_path):
    """Offline by default: edge hosts have no route out. One whose packages lack a pin of
    the bundle (threadpoolctl here) gets that wheel, for its Python and platform, from
    the controller; a second model on the same host reuses it and nothing is copied."""
    from jupyter_stratum.deploy.core import deploy, undeploy
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.testing import bundle_lineage

    v1 = fleet["reg"].fitted[1]
    home = tmp_path / "offline-home"
    reg = open_registry(home)
    for name in ("offline", "offline2"):
        reg.register(name, v1.model, lineage=bundle_lineage(v1.model, v1.X_test, v1.X_test.head(5)))
    # this machine's packages, less threadpoolctl
    site = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p, "sklearn").is_dir()))
    lacking = tmp_path / "site-without-threadpoolctl"
    lacking.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith("threadpoolctl"):
            (lacking / entry.name).symlink_to(entry)
    edge2 = fleet["hosts"].hosts[1]
    root = tmp_path / "offline-root"
    line = next(x for x in fleet["inv"].read_text().splitlines() if x.startswith("edge2 "))
    line = " ".join(w for w in line.split() if not w.startswith(("stratum_port=", "stratum_root=")))
    inv = tmp_path / "offline.ini"
    inv.write_text(f"[edge]\n{line} stratum_root={root}\n\n[edge:vars]\nstratum_site_dirs=[{lacking}]\n")
    port = 8521 if fleet["hosts"].mode == "netns" else edge2.serve_port + 21

    def ran(result, task: str) -> set[str]:
        return {e.status for e in result.events if e.step == task}

    first = deploy("offline", inv, port=port, registry=reg)
    assert first.status == "ok", first.to_text()
    assert ran(first, "Copy the wheels") == {"changed"}, first.to_text()
    wheels = root / "wheels"
    shipped = sorted(p.name for p in wheels.iterdir())
    assert [n.split("-")[0] for n in shipped] == ["threadpoolctl"], shipped
    assert (home / "wheels" / shipped[0]).is_file()  # the controller's cache, under the registry
    url = f"http://{edge2.address}:{port}"
    assert served_version(url) == "1"
    assert predict(url, v1.X_test.head(20)) == v1.model.predict(v1.X_test.head(20)).tolist()

    # another model on the same host: a new environment, the kept wheel, nothing copied
    before = {p.name: p.stat().st_mtime_ns for p in wheels.iterdir()}
    second = deploy("offline2", inv, port=port + 1, registry=reg)
    assert second.status == "ok", second.to_text()
    assert (
        ran(second, "Copy the wheels") <= {"skipped"}
        and ran(second, "Ask the host which pins its environment lacks") == set()
    )
    assert {p.name: p.stat().st_mtime_ns for p in wheels.iterdir()} == before
    assert served_version(f"http://{edge2.address}:{port + 1}") == "1"

    for name in ("offline", "offline2"):
        assert undeploy(name, inv, registry=reg).status == "ok"
    assert wait_closed(edge2.address, port) and wait_closed(edge2.address, port + 1)


def test_waves_halt_when_a_wave_fails_and_later_hosts_keep_their_release(fleet, tmp_path):
    """--waves 1,1,100% --max-fail 0%: edge1 (first wave) is deployed and checked; edge2's
    release fails its check in the second wave, so the rollout halts: edge3 is never
    touched (reported not_reached), the exit status says partial and the registry's
    record says how the rollout went."""
    from jupyter_stratum.registry import open_registry

    home = tmp_path / "waves-home"
    roots, ports, inv = _own_release(fleet, tmp_path, "waves", 31, broken="edge2")  # edge2 (second wave) cannot start
    hosts = fleet["hosts"].hosts

    halted = stratum_cli(
        "deploy", "waves", "--edge", str(inv), "--waves", "1,1,100%", "--max-fail", "0%", "--home", str(home)
    )
    assert halted.returncode == 3, halted.stdout + halted.stderr
    assert "partial (2 of 3 hosts failed: edge2, edge3)" in halted.stdout, halted.stdout
    (rec,) = open_registry(home).deployments("waves")
    assert {h.host: h.status for h in rec.hosts} == {"edge1": "changed", "edge2": "failed", "edge3": "not_reached"}
    assert rec.status == "partial" and rec.extra["waves"] == [1, 1, "100%"] and rec.extra["max_fail_percent"] == 0
    assert rec.extra["halted"] is True
    edge1, edge2, edge3 = hosts
    assert served_version(f"http://{edge1.address}:{ports['edge1']}") == "1"
    assert not port_open(edge2.address, ports["edge2"])  # no release to go back to: nothing serves
    assert (roots["edge2"] / "models" / "waves").is_dir() and not roots["edge3"].exists()

    gone = stratum_cli("undeploy", "waves", "--edge", str(inv), "--home", str(home))
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert wait_closed(edge1.address, ports["edge1"])


def _own_release(fleet, tmp_path, name: str, port_offset: int, broken: str = ""):
    """Model ``name`` (v1 of the story's model) in a registry of its own under ``tmp_path/NAME-home``, and an
    inventory of the three hosts serving it from a root and port of its own (``broken``: a host whose runtime
    cannot start); returns (roots, ports, inventory path)."""
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.testing import bundle_lineage

    v1 = fleet["reg"].fitted[1]
    open_registry(tmp_path / f"{name}-home").register(
        name, v1.model, lineage=bundle_lineage(v1.model, v1.X_test, v1.X_test.head(5))
    )
    hosts = fleet["hosts"].hosts
    netns = fleet["hosts"].mode == "netns"
    roots = {h.name: Path(h.root) / f"{name}-test" for h in hosts}
    ports = {h.name: 8500 + port_offset if netns else h.serve_port + port_offset for h in hosts}
    lines = []
    for h, line in zip(hosts, fleet["inv"].read_text().split("\n\n", 1)[0].splitlines()[1:]):
        words = [w for w in line.split() if not w.startswith(("stratum_port=", "stratum_root="))]
        lines.append(" ".join(words) + f" stratum_root={roots[h.name]} stratum_port={ports[h.name]}")
        if h.name == broken:
            lines[-1] += " stratum_serve_args=--no-such-option"
    group_vars = fleet["inv"].read_text().split("[edge:vars]", 1)[1]
    inv = tmp_path / f"{name}.ini"
    inv.write_text("[edge]\n" + "\n".join(lines) + f"\n\n[edge:vars]{group_vars}")
    return roots, ports, inv


def test_abort_stops_a_running_rollout_before_its_next_wave(fleet, tmp_path):
    """`stratum rollout abort` from another process while the CLI soaks its first wave: the rollout ends
    aborted before wave 2; edge1 keeps the release it got, edge2 and edge3 are never touched (not_reached);
    the CLI that ran the rollout exits 3 (partial) and says it was aborted."""
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.registry.rollout import latest_rollout

    home = tmp_path / "abort-home"
    roots, ports, inv = _own_release(fleet, tmp_path, "abort", 32)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv = ["deploy", "abort", "--edge", str(inv), "--waves", "1,100%", "--soak", "20s", "--home", str(home)]
    driver = subprocess.Popen(
        [sys.executable, "-m", "jupyter_stratum.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 300
        while True:  # wait until wave 1 is deployed and soaking
            assert driver.poll() is None, driver.communicate()[0]
            assert time.monotonic() < deadline, "the first wave did not reach its soak in 300 s"
            try:
                ro = latest_rollout(open_registry(home), "abort")
            except Exception:  # noqa: BLE001 - no record yet
                ro = None
            if ro is not None and ro.hosts[0].step.startswith("soak"):
                break
            time.sleep(0.5)
        aborted = stratum_cli("rollout", "abort", "abort", "--home", str(home))
        assert aborted.returncode == 0, aborted.stdout + aborted.stderr
        out = driver.communicate(timeout=120)[0]
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 3, out
    ro = latest_rollout(open_registry(home), "abort")
    assert ro.state == "aborted" and "stratum rollout abort" in ro.reason, ro
    assert {h.host: h.state for h in ro.hosts} == {"edge1": "done", "edge2": "not_reached", "edge3": "not_reached"}
    assert ro.completed_waves == [1]
    edge1, edge2, edge3 = fleet["hosts"].hosts
    assert served_version(f"http://{edge1.address}:{ports['edge1']}") == "1"
    assert not roots["edge2"].exists() and not roots["edge3"].exists()
    status = stratum_cli("rollout", "status", "abort", "--home", str(home))
    assert "aborted" in status.stdout, status.stdout
    gone = stratum_cli("undeploy", "abort", "--edge", str(inv), "--home", str(home))
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert wait_closed(edge1.address, ports["edge1"])
