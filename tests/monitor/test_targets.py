"""Which hosts the monitor watches for a model name: those serving it in the model's newest
live deployment (the registry's one rule, Registry.live_deployment)."""

from __future__ import annotations

import pytest

from jupyter_stratum.errors import DeployError
from jupyter_stratum.monitor import resolve_containers, resolve_targets


def _host(name, status, serving, port=8511):
    return {"host": name, "address": f"10.77.{name[-1]}.2", "port": port, "status": status, "serving": serving}


def test_targets_follow_the_live_deployment(monitor_registry, tmp_path):
    from jupyter_stratum.registry import open_registry

    reg = open_registry(tmp_path / "home")
    reg.register("cancer", monitor_registry.fitted.model, lineage={})
    with pytest.raises(DeployError, match="No live deployment of model 'cancer'"):
        resolve_targets("cancer", registry=reg)
    reg.record_deployment(
        {
            "model": "cancer@1",
            "action": "deploy",
            "hosts": [_host("edge1", "changed", "v1-a"), _host("edge2", "failed", "")],
        }
    )
    want = {"edge1": "http://10.77.1.2:8511"}
    assert resolve_targets("cancer", registry=reg) == want
    assert resolve_targets(None, registry=reg) == want
    # the engines are asked for container stats only where the model may run in a container
    inv = tmp_path / "edge.ini"
    inv.write_text("[edge]\nedge1 ansible_host=10.77.1.2\nedge2 ansible_host=10.77.2.2\n")
    hosts = [_host("edge1", "changed", "v1-a"), _host("edge2", "changed", "v1-a")]
    reg.record_deployment({"model": "cancer@1", "action": "deploy", "hosts": hosts, "inventory": str(inv)})
    assert resolve_containers("cancer", registry=reg) is None  # the process runtime
    reg.record_deployment(
        {"model": "cancer@1", "action": "deploy", "hosts": hosts, "inventory": str(inv), "runtime": "docker"}
    )
    probe = resolve_containers("cancer", registry=reg)
    assert probe is not None and probe.args == ("cancer", str(inv)) and probe.keywords == {"limit": "edge1,edge2"}
    assert resolve_containers({"edge1": "http://10.77.1.2:8511"}, registry=reg) is None  # names no model
    reg.record_deployment({"model": "cancer@1", "action": "undeploy", "hosts": [_host("edge1", "removed", "")]})
    with pytest.raises(DeployError, match="deploy it first"):
        resolve_targets("cancer", registry=reg)
    with pytest.raises(DeployError, match="any model"):
        resolve_targets(None, registry=reg)
