"""Dask Gateway per user behind the team hub: each user logs in with their own hub token, gets
their own cluster and trains on it; a team's quota refuses one cluster too many, with a message
that says whose clusters hold it; nobody reaches another user's cluster or logs in without a token."""

from __future__ import annotations

import os

import pytest

from jupyter_stratum import cluster as cl
from jupyter_stratum.errors import ClusterError

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SPEC = "data: sklearn:iris\nsplit: {cv: 2}\nmodels: [logistic_regression]\n"


@pytest.fixture
def gateway_env(hub, monkeypatch):
    """The gateway of the shared hub; undo $STRATUM_SCHEDULER and shut the clusters down afterwards."""
    pytest.importorskip("dask_gateway")
    if not hub["gateway"]:
        pytest.skip("dask-gateway-server is not installed (the test extra has it)")
    monkeypatch.setenv(cl.SCHEDULER_ENV, "unset")
    monkeypatch.delenv(cl.SCHEDULER_ENV)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    from jupyter_stratum.cluster import gateway_client

    yield hub["gateway"]
    for gateway_cluster in list(gateway_client._clusters.values()):
        gateway_cluster.shutdown()
    gateway_client._clusters.clear()
    cl.close()


def _train_on(client) -> list[str]:
    """Train with the cluster `gateway()` made the training one; the workers the best model ran on."""
    from jupyter_stratum.training import train

    assert os.environ[cl.SCHEDULER_ENV] == client.scheduler.address
    return train(SPEC, register=False).best.workers


def test_each_user_their_own_cluster_within_team_quotas(hub, gateway_env):
    from dask_gateway import Gateway
    from dask_gateway.auth import JupyterHubAuth

    from jupyter_stratum.cluster.gateway_client import cluster_name, gateway

    tokens = hub["tokens"]
    # ana (team fraud) through connect(), cat (team churn) as a kernel on the hub does: $JUPYTERHUB_API_TOKEN
    ana = cl.connect(gateway=gateway_env, token=tokens["ana"])
    os.environ["JUPYTERHUB_API_TOKEN"] = tokens["cat"]
    try:
        cat = gateway(gateway_env, workers=1, timeout=180)
    finally:
        del os.environ["JUPYTERHUB_API_TOKEN"]
    assert cluster_name(ana) and cluster_name(cat) and cluster_name(ana) != cluster_name(cat)
    # each sees only their own cluster
    for user, client in (("ana", ana), ("cat", cat)):
        with Gateway(gateway_env, auth=JupyterHubAuth(api_token=tokens[user])) as own:
            listed = own.list_clusters()
        assert [c.name for c in listed] == [cluster_name(client)]
        assert [c.options["team"] for c in listed] == [{"ana": "fraud", "cat": "churn"}[user]]
    # a training run goes through cat's cluster (the last one made the training one) ...
    cat_workers = [w["name"] for w in cat.scheduler_info()["workers"].values()]
    assert _train_on(cat) == cat_workers
    # ... and through ana's once hers is the training one again
    ana = gateway(gateway_env, name=cluster_name(ana), token=tokens["ana"], workers=1, timeout=180)
    assert _train_on(ana) == [w["name"] for w in ana.scheduler_info()["workers"].values()]
    # team fraud's one cluster is ana's: ben is refused, told why and what to do
    with pytest.raises(ClusterError) as refused:
        gateway(gateway_env, token=tokens["ben"], workers=1)
    message = str(refused.value)
    assert "Team 'fraud' has its Dask Gateway quota of 1 cluster(s) in use" in message
    assert f"ana's {cluster_name(ana)[:8]}" in message and "STRATUM_GATEWAY_TEAM_QUOTAS" in message
    # a cluster has at most the team's workers
    with pytest.warns(Warning, match="exceed resource limit of 1 workers"):
        gateway_client_cluster(ana).scale(2)
    # ben cannot use ana's cluster by its name; no token, or a forged one, gets no cluster at all
    with pytest.raises(ClusterError, match=r"refused \(403\): cluster \w+ is another user's"):
        gateway(gateway_env, name=cluster_name(ana), token=tokens["ben"])
    for token in ("not-a-hub-token", None):
        with pytest.raises(ClusterError, match=r"did not accept your login .*your own JupyterHub API token"):
            gateway(gateway_env, token=token)


def gateway_client_cluster(client):
    from jupyter_stratum.cluster import gateway_client

    return gateway_client._clusters[client.scheduler.address]
