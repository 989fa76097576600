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


def test_record_and_list_deployments(registry, fitted_pipeline, home):
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
    assert open_registry(home).list_deployments("price")[0]["model"] == "price@1"
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
