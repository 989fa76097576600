"""What the promote stages deploy: the shadow bundle (the champion's with the challenger's inside, both
checked by the runtime's own loader) and the stage inventory (serve arguments added per host, nothing
of the user's inventory copied)."""

from __future__ import annotations

import json
import shutil

import pytest

from jupyter_stratum.deploy.inventory import read_inventory
from jupyter_stratum.deploy.project import release_id
from jupyter_stratum.serve.errors import BundleLoadError
from jupyter_stratum.serve.model_loader import load_bundle
from jupyter_stratum.supervise.stages import serve_args_of, shadow_bundle, stage_hosts, stage_inventory


def test_shadow_bundle_is_checked_and_loads_both_models(drift_bundle, tmp_path):
    champion = drift_bundle.path
    challenger = tmp_path / "challenger"
    shutil.copytree(champion, challenger)  # a second bundle of the same columns stands in for version 2
    out = shadow_bundle(champion, challenger, tmp_path / "composite", challenger_version=2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shadow"] == {"path": "shadow", "version": 2}
    assert release_id(out)[0] != release_id(champion)[0]  # a release of its own on the host
    assert {k for k in manifest["files"] if k.startswith("shadow/")} >= {"shadow/manifest.json"}
    assert load_bundle(str(out)).version == load_bundle(str(champion)).version
    assert load_bundle(str(out / "shadow")).name == "churn"
    # a damaged shadow file fails the champion's own check, as any file of the release would
    target = next(k for k in manifest["files"] if k.startswith("shadow/") and k != "shadow/manifest.json")
    (out / target).write_bytes((out / target).read_bytes() + b"x")
    with pytest.raises(BundleLoadError):
        load_bundle(str(out))


def test_stage_inventory_adds_serve_arguments_to_named_hosts_only(tmp_path):
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        "[edge]\n"
        "edge1 ansible_host=10.0.0.1 stratum_serve_args='--drift-window 60' ansible_become_password=s3cr3t\n"
        "edge2 ansible_host=10.0.0.2\n"
        "[edge:vars]\nstratum_port=8600\n"
    )
    folder = stage_inventory(inventory, {"edge1": ["--shadow", "shadow"]}, tmp_path / "stage")
    hosts = read_inventory(folder)
    assert serve_args_of(hosts.host("edge1").vars["stratum_serve_args"]) == [
        "--drift-window",
        "60",
        "--shadow",
        "shadow",
    ]
    assert "stratum_serve_args" not in hosts.host("edge2").vars and hosts.host("edge2").serve_port == 8600
    written = "".join(p.read_text() for p in (folder / "host_vars").iterdir())
    assert "s3cr3t" not in written and "10.0.0.1" not in written
    assert serve_args_of("[--a, 1]") == ["--a", "1"] and serve_args_of(None) == []
    assert stage_hosts(["a", "b", "c"], 1, 1) == (["a"], ["b"]) and stage_hosts(["a"], 1, 1) == (["a"], ["a"])


def test_approve_lets_a_staged_promotion_go_on(tmp_path):
    """approve: manual with stages: `stratum supervise NAME --approve` records the approval (the supervisor
    then starts the canary); it moves no alias itself, and there is nothing to approve twice."""
    from sklearn.dummy import DummyClassifier

    from jupyter_stratum.cli import main
    from jupyter_stratum.errors import SuperviseError
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.supervise.supervisor import PENDING_APPROVAL, approve

    registry = open_registry(tmp_path / "registry")
    for _ in range(2):
        registry.register("churn", DummyClassifier().fit([[0], [1]], [0, 1]), lineage={})
    registry.set_alias("churn", "champion", 1, actor="test")
    registry.set_alias("churn", "challenger", 2, actor="test")
    registry.add_event(
        "churn", PENDING_APPROVAL, version=2, actor="supervisor", details={"decision": 7, "staged": True}
    )
    assert main(["supervise", "churn", "--approve", "--home", str(registry.root)]) == 0
    last = registry.events("churn")[-1]
    assert (last.kind, last.version, last.details["decision"]) == ("supervise_approved", 2, 7)
    assert {a.alias: a.version for a in registry.aliases("churn")} == {"champion": 1, "challenger": 2}
    with pytest.raises(SuperviseError, match="waits for approval"):
        approve(registry, "churn")
