"""The Kubernetes values files of the team recipe ask for what the one-machine recipe's hub config does:
the same services, the same scopes for users, the registry service and the notebook servers' tokens, the
same groups, the single-user environment pointing at the service and the gateway, and the gateway's quotas
through the same function. (The one-machine recipe runs for real in tests/team; this keeps the two from
drifting apart.)"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml
from _helpers import TEAM_GROUPS as GROUPS
from traitlets.config import Config

import jupyter_stratum

REPO = Path(jupyter_stratum.__file__).resolve().parents[1]
TEAM = REPO / "cluster" / "team"


def hub_config(tmp_path, monkeypatch) -> Config:
    """cluster/team/jupyterhub_config.py as JupyterHub loads it (with a gateway), without starting anything."""
    settings = {
        "port": 8000,
        "hub_port": 8081,
        "proxy_api": 8001,
        "chp": "configurable-http-proxy",
        "groups": GROUPS,
        "dsn": "postgresql://stratum@db/stratum",
        "artifacts": "file:///srv/artifacts",
        "home": "/srv/stratum",
        "service_port": 9302,
        "python": "/usr/bin/python3",
        "repo": str(REPO),
        "gateway_port": 9350,
    }
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    monkeypatch.setenv("STRATUM_TEAM_SETTINGS", str(tmp_path / "settings.json"))
    c = Config()
    exec(
        compile((TEAM / "jupyterhub_config.py").read_text(), "jupyterhub_config.py", "exec"), {"get_config": lambda: c}
    )
    return c


def test_the_values_files_ask_for_what_the_recipe_does(tmp_path, monkeypatch):
    c = hub_config(tmp_path, monkeypatch)
    hub = yaml.safe_load((TEAM / "helm" / "jupyterhub.values.yaml").read_text())
    gateway = yaml.safe_load((TEAM / "helm" / "dask-gateway.values.yaml").read_text())

    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert hub["hub"]["loadRoles"]["user"]["scopes"] == roles["user"]["scopes"]
    assert hub["hub"]["loadRoles"]["stratum-registry"]["scopes"] == roles["stratum-registry"]["scopes"]
    assert set(hub["hub"]["services"]) == {s["name"] for s in c.JupyterHub.services} - {"stratum-admin"}
    assert hub["hub"]["config"]["Spawner"]["server_token_scopes"] == list(c.Spawner.server_token_scopes)
    assert {g: v["users"] for g, v in hub["hub"]["config"]["JupyterHub"]["load_groups"].items()} == GROUPS
    env = hub["singleuser"]["extraEnv"]
    assert env["STRATUM_REGISTRY_URL"].endswith("/services/stratum-registry/")
    assert env["DASK_GATEWAY__AUTH__TYPE"] == c.Spawner.environment["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    assert env["DASK_GATEWAY__ADDRESS"].endswith(gateway["gateway"]["prefix"])

    assert gateway["gateway"]["auth"]["type"] == "jupyterhub"
    # the quotas go through the function the one-machine gateway config calls, and it accepts them
    (snippet,) = gateway["gateway"]["extraConfig"].values()
    assert (
        "apply_team_quotas(c, " in snippet and "apply_team_quotas(c, " in (TEAM / "dask_gateway_config.py").read_text()
    )
    from jupyter_stratum.team.gateway import parse_quotas

    quotas = ast.literal_eval(snippet.split("apply_team_quotas(c, ", 1)[1].rsplit(")", 1)[0])
    assert parse_quotas(quotas)["fraud"].clusters == 2
