"""Deploying real bundles to three real edge hosts over SSH with Ansible.

One story, in order (each step depends on the one before, as on a real fleet):
dry run → deploy v1 → unchanged re-run → v2 while edge3 fails its check (edge3 rolls
back and keeps serving v1) → rollback command → undeploy → no secret anywhere.
The front-end is the CLI command path (`stratum deploy ...`), whose printed lines
are kept to check them for secrets at the end.
"""

from __future__ import annotations

import io
import secrets
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
    assert all(view.counts[h]["ok"] >= 5 for h in view.hosts)
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
    assert res.status == "partial", res.to_text()
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
    urls = _urls(fleet)
    assert served_version(urls["edge1"]) == "1"
    assert served_version(urls["edge2"]) == "2"
    listing = stratum("deployments", "cancer", "--home", fleet["home"])
    assert [r.action for r in listing] == ["deploy", "deploy", "deploy", "rollback"]


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
