"""Inventory reading and project generation (no hosts needed): real Ansible parses the
inventories and syntax-checks the generated playbooks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from jupyter_stratum.deploy.inventory import read_inventory
from jupyter_stratum.deploy.project import render_project
from jupyter_stratum.deploy.runner import syntax_check
from jupyter_stratum.errors import DeployError

INI = """\
[edge]
cam1 ansible_host=10.77.250.2 stratum_port=8601 ansible_password=hunter2-secret
cam2 ansible_host=10.77.251.2 ansible_port=2222

[edge:vars]
ansible_user=pi
stratum_root=/srv/stratum

[lab]
bench ansible_host=127.0.0.1
"""

YAML = """\
all:
  children:
    edge:
      hosts:
        gw1: {ansible_host: 10.77.252.2, stratum_port: 9000, stratum_serve_args: [--threads, 2]}
      vars: {ansible_user: root}
"""


@pytest.fixture
def ini(tmp_path):
    p = tmp_path / "hosts.ini"
    p.write_text(INI)
    return p


def test_ini_inventory_groups_vars_and_limit(ini):
    inv = read_inventory(ini)
    assert inv.names == ["cam1", "cam2", "bench"]
    cam1, cam2 = inv.host("cam1"), inv.host("cam2")
    assert (cam1.address, cam1.serve_port, cam1.user, cam1.ssh_port) == ("10.77.250.2", 8601, "pi", 22)
    assert (cam2.serve_port, cam2.ssh_port, cam2.vars["stratum_root"]) == (8500, 2222, "/srv/stratum")
    assert read_inventory(ini, limit="edge").names == ["cam1", "cam2"]
    assert read_inventory(ini, limit="cam2").names == ["cam2"]
    assert inv.secret_vars() == {"ansible_password"}


def test_yaml_inventory(tmp_path):
    p = tmp_path / "hosts.yml"
    p.write_text(YAML)
    inv = read_inventory(p)
    gw = inv.host("gw1")
    assert (gw.address, gw.serve_port, gw.user) == ("10.77.252.2", 9000, "root")
    assert gw.vars["stratum_serve_args"] == ["--threads", 2]


@pytest.mark.parametrize(
    "content,limit,needle",
    [
        (None, None, "does not exist"),
        ("[edge\ncam1 ansible_host=1\n", None, "could not be parsed"),
        (INI, "nothing*", "has no host matching --limit 'nothing*'"),
    ],
)
def test_bad_inventories_say_what_is_wrong(tmp_path, content, limit, needle):
    p = tmp_path / "inv.ini"
    if content is not None:
        p.write_text(content)
    with pytest.raises(DeployError) as e:
        read_inventory(p, limit)
    assert needle in str(e.value)


def _fake_bundle(d: Path, version: int) -> Path:
    (d / "model").mkdir(parents=True)
    (d / "model" / "m.bin").write_bytes(b"x" * 100)
    (d / "requirements.txt").write_text("scikit-learn==1.9.1\n")
    files = {"model/m.bin": hashlib.sha256(b"x" * 100).hexdigest()}
    (d / "manifest.json").write_text(json.dumps({"name": "m", "version": version, "files": files}))
    return d


def test_project_is_plain_ansible_without_secrets_and_reproducible(ini, tmp_path):
    bundle = _fake_bundle(tmp_path / "b", 3)
    inv = read_inventory(ini, limit="edge")
    p1 = render_project(tmp_path / "p1", inv, model="m", bundle_dir=bundle, port=9100, serial=1)
    p2 = render_project(tmp_path / "p2", inv, model="m", bundle_dir=bundle, port=9100, serial=1)
    assert p1.release.startswith("v3-") and p1.release == p2.release
    a1 = next((p1.path / "files").glob("*.tar.gz")).read_bytes()
    a2 = next((p2.path / "files").glob("*.tar.gz")).read_bytes()
    assert a1 == a2  # same bundle, same bytes: an unchanged re-run copies nothing
    hosts = yaml.safe_load((p1.path / "inventory" / "hosts.yml").read_text())
    hv = hosts["all"]["children"]["stratum_targets"]["hosts"]
    assert hv["cam1"]["stratum_port"] == 8601 and hv["cam2"]["stratum_port"] == 9100  # inventory wins over --port
    play = yaml.safe_load((p1.path / "deploy.yml").read_text())[0]
    assert play["serial"] == 1 and play["roles"] == ["stratum_model"]
    for f in p1.path.rglob("*"):
        if f.is_file():
            assert b"hunter2-secret" not in f.read_bytes(), f
    assert "ansible_password" in (p1.path / "README.md").read_text()
    for action in ("deploy", "rollback", "undeploy"):
        syntax_check(p1, action)


def test_generated_project_is_lint_clean(ini, tmp_path):
    """ansible-lint (production profile) finds nothing in a generated project.

    ansible-lint is not a dependency (it pins its own ansible-core): put it on PATH, e.g.
    ``python -m venv /tmp/lint && /tmp/lint/bin/pip install ansible-lint`` and
    ``STRATUM_ANSIBLE_LINT=/tmp/lint/bin/ansible-lint``.
    """
    import os
    import shutil
    import subprocess

    lint = os.environ.get("STRATUM_ANSIBLE_LINT") or shutil.which("ansible-lint")
    if not lint:
        pytest.skip("ansible-lint is not installed (set STRATUM_ANSIBLE_LINT to its path)")
    bundle = _fake_bundle(tmp_path / "b", 1)
    p = render_project(tmp_path / "p", read_inventory(ini), model="m", bundle_dir=bundle, serial=2)
    env = {**os.environ, "NO_COLOR": "1", "PATH": str(Path(lint).parent) + os.pathsep + os.environ["PATH"]}
    r = subprocess.run(
        [lint, "--offline", "--profile", "production", "-f", "pep8"],
        cwd=p.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_waves_and_max_fail_become_the_plays_serial_and_max_fail_percentage(ini, tmp_path):
    from jupyter_stratum.deploy.waves import parse_max_fail, parse_waves

    assert parse_waves("1, 25%,100%") == [1, "25%", "100%"] and parse_waves("") is None
    assert parse_max_fail("10%") == 10 and parse_max_fail(0) == 0 and parse_max_fail(None) is None
    for bad in ("0", "1,x", "150%", "-1"):
        with pytest.raises(DeployError, match="--waves"):
            parse_waves(bad)
    with pytest.raises(DeployError, match="--max-fail"):
        parse_max_fail("lots")
    bundle = _fake_bundle(tmp_path / "b", 1)
    p = render_project(
        tmp_path / "p", read_inventory(ini), model="m", bundle_dir=bundle, waves=[1, "25%", "100%"], max_fail=10
    )
    for action in ("deploy", "rollback"):
        play = yaml.safe_load((p.path / f"{action}.yml").read_text())[0]
        assert play["serial"] == [1, "25%", "100%"] and play["max_fail_percentage"] == 10
    assert "serial" not in yaml.safe_load((p.path / "undeploy.yml").read_text())[0]
    syntax_check(p, "deploy")


def test_waves_are_planned_as_ansible_serial_gates_read_their_flags_and_speed_settings_reach_the_project(ini, tmp_path):
    from jupyter_stratum.deploy.gate import make_gate, parse_duration
    from jupyter_stratum.deploy.rollout import plan_waves

    assert plan_waves(20, [1, "25%", "100%"]) == [1, 5, 14]
    assert plan_waves(3, [1, 1, "100%"]) == [1, 1, 1]
    assert plan_waves(7, [2]) == [2, 2, 2, 1] and plan_waves(4, None) == [4] and plan_waves(3, ["10%"]) == [1, 1, 1]
    gate = make_gate("10s", "1%", 50)
    assert (gate.soak_s, gate.max_error_rate, gate.max_p99_ms) == (10.0, 0.01, 50.0)
    assert make_gate(None, None, None).soak_s == 10.0 and make_gate(None, None, None, waves=False).soak_s == 0.0
    assert parse_duration("2m") == 120.0 and parse_duration("500ms") == 0.5 and parse_duration("0") == 0.0
    with pytest.raises(DeployError, match="--soak"):
        make_gate("soon", None, None)
    with pytest.raises(DeployError, match="--max-error-rate"):
        make_gate(None, "150%", None)
    with pytest.raises(DeployError, match="--max-p99-ms"):
        make_gate(None, None, 0)

    bundle = _fake_bundle(tmp_path / "b", 1)
    fast = render_project(tmp_path / "fast", read_inventory(ini), model="m", bundle_dir=bundle)
    cfg = (fast.path / "ansible.cfg").read_text()
    assert "forks = 5" in cfg and "ControlPersist=120s" in cfg and "pipelining = True" in cfg
    assert yaml.safe_load((fast.path / "deploy.yml").read_text())[0]["strategy"] == "free"
    slow = render_project(
        tmp_path / "slow",
        read_inventory(ini),
        model="m",
        bundle_dir=bundle,
        pipelining=False,
        control_persist=False,
        free=False,
        forks=2,
    )
    cfg = (slow.path / "ansible.cfg").read_text()
    assert "forks = 2" in cfg and "ControlMaster=no" in cfg and "pipelining = False" in cfg
    assert "strategy" not in yaml.safe_load((slow.path / "deploy.yml").read_text())[0]
    for p in (fast, slow):
        syntax_check(p, "deploy")
