"""The sidebar's ``jupyter-stratum/models`` (a real jupyter_server, pytest-jupyter's ``jp_fetch``) on the
team registry of a real hub: each model with its team, owner, aliases and last deployment, and the
actions the user may take as the service decided them (the handler passes the service's answer on)."""

from __future__ import annotations

import json

import httpx
import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403  (jp_fetch & co. for this module only)

from jupyter_stratum.registry import open_registry


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_stratum": True}}}


def _tiny_model():
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    return DecisionTreeClassifier(max_depth=1).fit(X, y)


def test_models_handler_shows_the_services_team_view(hub, jp_fetch, jp_asyncio_loop, monkeypatch):
    service = hub["url"].removesuffix("/api")
    monkeypatch.setenv("STRATUM_REGISTRY_URL", service)
    monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"]["ana"])
    open_registry().register("fraud-sidebar", _tiny_model(), lineage={"metric": "accuracy", "cv_score": 0.7})
    ben = httpx.Client(base_url=hub["url"], headers={"Authorization": f"token {hub['tokens']['ben']}"}, timeout=60)
    assert ben.put("/models/fraud-sidebar/aliases/champion", json={"version": 1, "fleet": "plant-a"}).is_success
    assert ben.post("/deployments", json={"model": "fraud-sidebar@1", "fleet": "plant-a"}).status_code == 201

    def models_of(user: str) -> dict[str, dict]:
        monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"][user])
        # pytest-jupyter's server runs on this loop (its async-test hook is conftest-only, tests/server's)
        response = jp_asyncio_loop.run_until_complete(jp_fetch("jupyter-stratum", "models"))
        assert response.code == 200
        return {m["name"]: m for m in json.loads(response.body)}

    ana = models_of("ana")["fraud-sidebar"]
    assert (ana["team"], ana["owner"], ana["latest_version"]) == ("fraud", "ana", 1)
    assert [(a["alias"], a["version"], a["updated_by"]) for a in ana["aliases"]] == [("champion", 1, "ben")]
    last = ana["last_deployment"]
    assert (last["version"], last["fleet"], last["user"]) == (1, "plant-a", "ben")
    # ana trains in fraud but deploys nowhere: the reason is the service's refusal, naming the group and who grants it
    assert ana["actions"]["register"] == {"allowed": True, "reason": ""}
    for action in ("alias", "deploy"):
        assert ana["actions"][action]["allowed"] is False
        assert "fleet-plant-a-deployers" in ana["actions"][action]["reason"]
        assert "hub admin" in ana["actions"][action]["reason"]
    refused = httpx.put(
        hub["url"] + "/models/fraud-sidebar/aliases/champion",
        json={"version": 1, "fleet": "plant-a"},
        headers={"Authorization": f"token {hub['tokens']['ana']}"},
        timeout=60,
    )
    assert refused.status_code == 403 and "fleet-plant-a-deployers" in refused.json()["error"]
    # the handler adds, drops and decides nothing: its answer is the service's, for the same token
    assert ana == {m["name"]: m for m in _service_models(hub, "ana")}["fraud-sidebar"]

    ben_view = models_of("ben")["fraud-sidebar"]
    assert ben_view["actions"]["deploy"] == {"allowed": True, "reason": ""}
    assert ben_view["actions"]["alias"] == {"allowed": True, "reason": ""}
    assert ben_view["actions"]["register"]["allowed"] is False
    assert "team-fraud-trainers" in ben_view["actions"]["register"]["reason"]

    assert "fraud-sidebar" not in models_of("cat")  # team churn


def _service_models(hub, user: str) -> list[dict]:
    answer = httpx.get(hub["url"] + "/models", headers={"Authorization": f"token {hub['tokens'][user]}"}, timeout=60)
    answer.raise_for_status()
    return answer.json()
