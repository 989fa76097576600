"""Where a bundle's image goes: a dry-run deploy pushes it to no registry, a deploy pushes it to the registry
the inventory names, ``stratum bundle --image --push`` pushes it with the same code, and a plain-HTTP registry
the engine does not trust is refused with what to do. Real dockerd, real registries, real inventory files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from jupyter_stratum.testing.dockerd import LocalRegistry, registry_support


@pytest.fixture
def registries(tmp_path):
    """Two empty registries on this machine (plain HTTP; the engine trusts 127.0.0.1 as every engine does)."""
    ok, why = registry_support()
    if not ok:
        pytest.skip(why)
    regs = []
    try:
        for name in ("a", "b"):
            regs.append(LocalRegistry(tmp_path / f"reg-{name}").start())
    except RuntimeError as exc:
        for r in regs:
            r.stop()
        pytest.skip(f"docker-registry cannot run here: {exc}")
    yield regs
    for r in regs:
        r.stop()


def _tags(reg: LocalRegistry, repo: str) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{reg.port}/v2/{repo}/tags/list", timeout=5) as r:
        return sorted(json.loads(r.read()).get("tags") or [])


def _outside_address() -> str | None:
    """An IPv4 address of this machine that is not loopback and not one of the test engines' insecure nets."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return next((a for a in out.split() if "." in a and not a.startswith(("127.", "10.77."))), None)


def test_dry_run_pushes_nothing_deploy_and_bundle_push_do(
    engine, base_image, registry, logreg, logreg_bundle, registries, tmp_path, monkeypatch
):
    import docker.errors

    from jupyter_stratum.deploy.core import render_deploy_project
    from jupyter_stratum.deploy.inventory import read_inventory

    monkeypatch.setenv("DOCKER_HOST", engine.url)
    client = engine.client()
    deployed, bundled = registries
    where = f"127.0.0.1:{deployed.port}"
    inv_path = tmp_path / "edge.ini"
    inv_path.write_text(f"[edge]\nedge1 ansible_host=127.0.0.1 stratum_registry={where}\n")
    inv = read_inventory(inv_path)
    mv = registry.get(logreg.ref)
    bundle_dir = Path(logreg_bundle.path)
    kw = {"runtime": "docker", "base": base_image}

    # a dry run may build the image, but it acts on nothing: no registry tag, nothing in the registry
    render_deploy_project(registry, tmp_path / "dry", inv, mv, bundle_dir, dry_run=True, **kw)
    client.images.get(f"stratum-cancer:{mv.version}")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{where}/stratum-cancer:{mv.version}")
    assert deployed.catalog() == []

    # the deploy itself pushes it there
    render_deploy_project(registry, tmp_path / "real", inv, mv, bundle_dir, **kw)
    assert deployed.catalog() == ["stratum-cancer"]
    assert _tags(deployed, "stratum-cancer") == [str(mv.version)]

    # stratum bundle --image --push: the same push, from the command line
    outside = _outside_address()
    cmd = [sys.executable, "-m", "jupyter_stratum.cli", "bundle", logreg.ref, "--image", "--base", base_image]
    cmd += ["--home", str(registry.root), "--no-tarball", "--push", f"127.0.0.1:{bundled.port}"]
    env = {**os.environ, "DOCKER_HOST": engine.url}
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "b1")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"pushed:  127.0.0.1:{bundled.port}/stratum-cancer:{mv.version}" in proc.stdout
    assert _tags(bundled, "stratum-cancer") == [str(mv.version)]
    assert deployed.catalog() == ["stratum-cancer"]

    # a plain-HTTP registry the engine does not list in insecure-registries: exit 2, and what to do
    if outside is None:
        pytest.skip("this machine has no address outside loopback and the test nets: the plain-HTTP refusal")
    untrusted = f"{outside}:{bundled.port}"
    cmd[-1] = untrusted
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "b2")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"could not push the image to the registry {untrusted}" in proc.stderr
    assert f'add "{untrusted}" to "insecure-registries"' in proc.stderr, proc.stderr


def test_push_needs_image(registry, logreg, tmp_path):
    cmd = [sys.executable, "-m", "jupyter_stratum.cli", "bundle", logreg.ref, "--push", "127.0.0.1:5000"]
    cmd += ["--home", str(registry.root), "--out", str(tmp_path / "b"), "--no-tarball"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--push only makes sense with --image" in proc.stderr


def test_dry_run_says_what_it_would_push(logreg_bundle, tmp_path):
    """The dry run's summary names the registry references a real deploy would push (no engine needed)."""
    from jupyter_stratum.deploy.core import DeploymentResult
    from jupyter_stratum.deploy.docker_image import would_push
    from jupyter_stratum.deploy.inventory import read_inventory

    inv_path = tmp_path / "edge.ini"
    inv_path.write_text(
        "[edge]\n"
        "edge1 ansible_host=10.0.0.1 stratum_runtime=docker stratum_registry=10.0.0.9:5000\n"
        "edge2 ansible_host=10.0.0.2 stratum_registry=10.0.0.8:5000\n"  # the process runtime: no image
    )
    inv = read_inventory(inv_path)
    version = logreg_bundle.manifest["version"]
    assert would_push(None, inv, logreg_bundle.path) == [f"10.0.0.9:5000/stratum-cancer:{version}"]
    assert would_push("docker", inv, logreg_bundle.path) == [
        f"10.0.0.8:5000/stratum-cancer:{version}",
        f"10.0.0.9:5000/stratum-cancer:{version}",
    ]
    assert would_push("process", inv, logreg_bundle.path) == []
    result = DeploymentResult("deploy", "cancer@1", [], tmp_path, 0.0, dry_run=True, notes=["would push x"])
    assert "would push x" in result.to_text().splitlines()[2] and "would push x" in result._repr_html_()
