from __future__ import annotations

import getpass
import json
import sqlite3

import pytest

from jupyter_stratum.errors import RegistryError
from jupyter_stratum.registry import open_registry


def _record(model="churn", **more):
    return {
        "model": model,
        "hosts": [{"host": "edge1", "status": "ok"}, {"host": "edge2", "status": "failed"}],
        "project_dir": "/tmp/deploy/churn-1",
        "runtime": "service",
        **more,
    }


def test_record_and_list_deployments(registry, fitted_pipeline, stratum_home):
    registry.register("churn", fitted_pipeline, lineage={})
    registry.register("churn", fitted_pipeline, lineage={})
    registry.register("price", fitted_pipeline, lineage={})
    first = registry.record_deployment(_record("churn@1", time="2026-01-01T00:00:00+00:00", user="ops"))
    second = registry.record_deployment(_record("churn"))  # latest, resolved to churn@2
    third = registry.record_deployment(_record("price"))
    assert isinstance(first, int) and first < second < third

    churn = registry.list_deployments("churn")
    assert [d["id"] for d in churn] == [first, second]
    assert [d["model"] for d in churn] == ["churn@1", "churn@2"]
    assert churn[0]["time"] == "2026-01-01T00:00:00+00:00" and churn[0]["user"] == "ops"
    assert churn[1]["user"] == getpass.getuser() and churn[1]["time"]
    assert churn[0]["hosts"][1] == {"host": "edge2", "status": "failed"}
    assert churn[0]["project_dir"] == "/tmp/deploy/churn-1" and churn[0]["model_version"] == 1
    assert [d["id"] for d in registry.list_deployments()] == [first, second, third]
    assert registry.list_deployments("churn@2") == churn  # a ref works as a name filter too
    assert registry.list_deployments("nothing-deployed") == []
    # another process/registry object sees the same records
    assert open_registry(stratum_home).list_deployments("price")[0]["model"] == "price@1"
    json.dumps(registry.list_deployments())


def test_update_deployment_merges(registry, fitted_pipeline):
    registry.register("churn", fitted_pipeline, lineage={})
    dep = registry.record_deployment({"model": "churn", "hosts": [{"host": "edge1", "status": "running"}]})
    updated = registry.update_deployment(dep, {"hosts": [{"host": "edge1", "status": "ok"}], "finished": True})
    assert updated["hosts"][0]["status"] == "ok" and updated["finished"] is True and updated["model"] == "churn@1"
    assert registry.list_deployments("churn")[0]["finished"] is True
    with pytest.raises(RegistryError, match="no deployment with id 999"):
        registry.update_deployment(999, {"x": 1})


def test_secrets_are_never_stored(registry, fitted_pipeline):
    registry.register("churn", fitted_pipeline, lineage={})
    registry.record_deployment(
        {
            "model": "churn",
            "ansible_password": "hunter2",
            "hosts": [{"host": "edge1", "become_pass": "s3cret", "vault_id": "v", "status": "ok"}],
            "extra_vars": {"api_token": "abc", "port": 8080},
        }
    )
    with sqlite3.connect(registry.root / "registry.sqlite3") as conn:
        raw = " ".join(r[0] for r in conn.execute("SELECT record FROM deployments"))
    for secret in ("hunter2", "s3cret", "abc"):
        assert secret not in raw
    dep = registry.list_deployments("churn")[0]
    assert dep["ansible_password"] == "<redacted>" and dep["extra_vars"]["port"] == 8080


def test_deployment_of_unknown_model_is_refused(registry, fitted_pipeline):
    with pytest.raises(RegistryError, match="needs the model"):
        registry.record_deployment({"hosts": []})
    with pytest.raises(RegistryError, match="No model named 'ghost'"):
        registry.record_deployment({"model": "ghost"})
    registry.register("churn", fitted_pipeline, lineage={})
    with pytest.raises(RegistryError, match="no version 5"):
        registry.record_deployment({"model": "churn@5"})
    assert registry.list_deployments() == []


@pytest.mark.parametrize(
    "key,secret",
    [
        ("ansible_password", True),
        ("ansible_become_pass", True),
        ("ssh_passphrase", True),
        ("api_token", True),
        ("vault_id", True),
        ("aws_credentials", True),
        ("ansible_ssh_private_key", True),
        ("tls_key_data", True),  # inline key material: was kept by the registry's old rule
        ("ansible_ssh_private_key_file", False),  # a path: kept by both (the registry used to redact it)
        ("port", False),
        ("stratum_root", False),
    ],
)
def test_one_secret_rule_for_registry_records_and_inventories(registry, fitted_pipeline, tmp_path, key, secret):
    from jupyter_stratum.deploy.inventory import read_inventory
    from jupyter_stratum.secret_keys import is_secret_key

    assert is_secret_key(key) is secret
    value = "v-" + key
    # the registry side
    registry.register("churn", fitted_pipeline, lineage={})
    registry.record_deployment({"model": "churn", "hosts": [{"host": "edge1", key: value}]})
    stored = registry.list_deployments("churn")[0]["hosts"][0][key]
    assert (stored == "<redacted>") is secret and (stored == value) is not secret
    # the inventory side: secret host variables never reach what a project or record holds
    ini = tmp_path / "hosts.ini"
    ini.write_text(f"[edge]\nedge1 ansible_host=10.77.250.2 {key}={value}\n")
    inv = read_inventory(ini)
    assert (key in inv.secret_vars()) is secret
    assert (key in inv.host("edge1").public_vars()) is not secret


def test_pem_key_material_is_redacted_whatever_its_key(registry, fitted_pipeline):
    registry.register("churn", fitted_pipeline, lineage={})
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
    registry.record_deployment({"model": "churn", "note": pem})
    assert registry.list_deployments("churn")[0]["note"] == "<redacted>"


def _host(name, status, serving="", version=""):
    return {
        "host": name,
        "address": "10.77.1.2",
        "port": 8511,
        "status": status,
        "serving": serving,
        "version": version,
        "changed": 1,
        "error": "",
    }


def test_deployments_are_typed_and_keep_the_wire_shape(registry, fitted_pipeline):
    from jupyter_stratum.registry import Deployment, HostResult

    registry.register("churn", fitted_pipeline, lineage={})
    dep_id = registry.record_deployment(
        {
            "model": "churn",
            "action": "deploy",
            "status": "partial",
            "changed": True,
            "hosts": [_host("edge1", "changed", "v1-abc", "1"), _host("edge2", "failed")],
            "inventory": "/inv.ini",
            "limit": None,
            "project": "/p",
            "duration_s": 3.5,
            "release": "v1-abc",
        }
    )
    (dep,) = registry.deployments("churn")
    assert isinstance(dep, Deployment) and dep.id == dep_id
    assert (dep.model, dep.model_name, dep.model_version, dep.action, dep.status) == (
        "churn@1",
        "churn",
        1,
        "deploy",
        "partial",
    )
    assert dep.hosts[0] == HostResult("edge1", "10.77.1.2", 8511, "changed", "v1-abc", "1", 1, "")
    assert dep.hosts[0].url == "http://10.77.1.2:8511"
    assert [h.host for h in dep.serving_hosts] == ["edge1"]
    assert dep.duration_s == 3.5 and dep.inventory == "/inv.ini" and dep.extra["release"] == "v1-abc"
    assert dep.user and dep.time
    # the wire shape (what the server sends) is the stored record, unchanged
    raw = registry.list_deployments("churn")[0]
    assert raw["hosts"][1] == _host("edge2", "failed") and raw["id"] == dep_id


def test_live_deployment_is_the_newest_serving_deploy_or_rollback(registry, fitted_pipeline):
    for name in ("churn", "churn", "price"):
        registry.register(name, fitted_pipeline, lineage={})

    def record(model, action, *hosts):
        return registry.record_deployment({"model": model, "action": action, "hosts": list(hosts)})

    assert registry.live_deployment("churn") is None
    first = record("churn@1", "deploy", _host("edge1", "changed", "v1-a", "1"), _host("edge2", "changed", "v1-a", "1"))
    assert registry.live_deployment("churn").id == first
    # a deploy that left nothing serving (all hosts failed) is passed over
    record("churn@2", "deploy", _host("edge1", "failed"), _host("edge2", "unreachable"))
    assert registry.live_deployment("churn").id == first
    rolled = record("churn@2", "rollback", _host("edge1", "rolled_back", "v1-a", "1"))
    assert registry.live_deployment("churn@2").id == rolled  # a ref names its model
    price = record("price", "deploy", _host("cam1", "changed", "v1-p", "1"))
    assert registry.live_deployment().id == price  # the newest of any model
    # an undeploy ends the model's life: nothing before it is live, other models stay
    record("price", "undeploy", _host("cam1", "removed"))
    assert registry.live_deployment("price") is None
    assert registry.live_deployment().id == rolled
    # records written by other tools (no action, no serving hosts) are never live
    record("churn", "", {"host": "edge9", "status": "ok"})
    assert registry.live_deployment("churn").id == rolled
    again = record("churn@2", "deploy", _host("edge1", "changed", "v2-b", "2"))
    assert registry.live_deployment("churn").id == again


@pytest.mark.parametrize(
    "action,statuses,want",
    [
        ("deploy", ["changed", "unchanged"], "ok"),
        ("deploy", ["changed", "rolled_back"], "partial"),  # a deploy that went back failed there
        ("deploy", ["unreachable", "failed"], "failed"),
        ("rollback", ["rolled_back", "rolled_back"], "ok"),  # what a rollback asks for
        ("rollback", ["rolled_back", "failed"], "partial"),
        ("undeploy", ["removed", "unreachable"], "partial"),
        ("undeploy", [], "ok"),
    ],
)
def test_overall_status_of_an_action(action, statuses, want):
    from jupyter_stratum.registry.deployment import overall_status

    assert overall_status(action, statuses) == want
