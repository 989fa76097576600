"""A Dask cluster from a Dask Gateway (e.g. a JupyterHub's), usable for training.

``gateway()`` starts (or joins) a gateway cluster, makes its client the one
:func:`~jupyter_stratum.cluster.client.connect` returns for its scheduler address, and,
by default, makes that address the one training uses. The magic, the CLI and
``jupyter_stratum.connect(gateway=True)`` all come here.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ClusterError
from .client import use, use_for_training

_clusters: dict[str, Any] = {}  # scheduler address -> GatewayCluster, alive while its client is used
HUB_TOKEN_ENV = "JUPYTERHUB_API_TOKEN"


def _auth(token: str | None) -> Any:
    """The user's own JupyterHub token as the gateway login: ``token``, else, in a hub's kernel,
    $JUPYTERHUB_API_TOKEN (unless the dask config names another way to log in). None: the dask config's."""
    import dask
    from dask_gateway.auth import JupyterHubAuth

    if token:
        return JupyterHubAuth(api_token=token)
    configured = dask.config.get("gateway.auth.type", "basic")
    if os.environ.get(HUB_TOKEN_ENV) and (
        configured == "jupyterhub" or (configured == "basic" and not dask.config.get("gateway.auth.kwargs", {}))
    ):
        return JupyterHubAuth(api_token=os.environ[HUB_TOKEN_ENV])
    return None


def gateway(
    address: str | None = None,
    *,
    name: str | None = None,
    workers: int | None = None,
    gpu: bool = False,
    timeout: float = 300,
    for_training: bool = True,
    token: str | None = None,
    team: str | None = None,
) -> Any:
    """A ``distributed.Client`` of a Dask Gateway cluster.

    ``address``: the gateway (default: the dask config, which JupyterHub's dask-gateway
    setup writes); ``name``: join this running cluster instead of starting one;
    ``workers``: scale to N and wait up to ``timeout`` s for them; ``gpu``: ask for GPU
    workers (cluster option ``gpu``, see cluster/gateway). The login is the user's own hub
    token: ``token``, else $JUPYTERHUB_API_TOKEN in a hub's kernel; never a shared one. ``team``:
    the team quota a new cluster counts against (cluster/team; default: the user's only team).
    Raises :class:`ClusterError` with what to do when the gateway cannot be reached or refuses
    (over quota, another user's cluster).
    """
    if workers is not None and workers < 1:
        raise ClusterError(f"workers must be at least 1, got {workers}.")
    try:
        from dask_gateway import Gateway
    except ImportError:
        raise ClusterError(
            "dask-gateway is not installed in this environment: `pip install dask-gateway` "
            "(JupyterHub images with a Dask Gateway usually have it)."
        ) from None
    import dask

    address = address or dask.config.get("gateway.address", None)
    if not address:
        raise ClusterError(
            "No Dask Gateway address: pass it (`%stratum cluster gateway --address URL`) or set "
            "$DASK_GATEWAY__ADDRESS (a JupyterHub with a gateway sets it for every user's server)."
        )
    auth = _auth(token)
    login = getattr(auth, "api_token", None)
    joined = next(
        (gc for gc in _clusters.values() if name and gc.name == name and _login(gc) == login),
        None,
    )
    gw = None
    try:
        if joined is not None:  # the same GatewayCluster: a second one, once dropped, would stop the cluster
            gc = joined
        else:
            gw = Gateway(address, auth=auth)
            gc = gw.connect(name) if name else gw.new_cluster(_options(gw, gpu, team))
        if workers:
            gc.scale(workers)
        client = gc.get_client(set_as_default=False)
        if workers:
            client.wait_for_workers(workers, timeout=timeout)
    except ClusterError:
        raise
    except ValueError as exc:  # the gateway refused (422/404): its reason says why (quota, no such cluster)
        raise ClusterError(f"The Dask Gateway at {address} refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - connection, auth and option errors of dask-gateway
        raise ClusterError(_explain(exc, address, name)) from None
    finally:
        if gw is not None:
            gw.close()  # a GatewayCluster has its own connection to the gateway
    scheduler = client.scheduler.address
    _clusters[scheduler] = gc
    use(client, scheduler)  # the gateway's client (TLS, proxied) is the one to reuse for this address
    if for_training:
        use_for_training(scheduler)
    return client


def _login(gc: Any) -> str | None:
    """The hub token a GatewayCluster logged in with (None: another way)."""
    return getattr(getattr(getattr(gc, "gateway", None), "auth", None), "api_token", None)


def _options(gw: Any, gpu: bool, team: str | None) -> Any:
    options = gw.cluster_options()
    if gpu:
        if "gpu" not in options:
            raise ClusterError(
                "This Dask Gateway has no 'gpu' cluster option. Use the configuration "
                "in cluster/gateway/ (or ask its admin), or leave out --gpu."
            )
        options.gpu = True
    if team:
        if "team" not in options:
            raise ClusterError("This Dask Gateway has no team quotas (cluster/team/): leave out team.")
        options.team = team
    return options


def _explain(exc: Exception, address: str, name: str | None) -> str:
    status = getattr(exc, "status", None)
    # a token the hub does not know: 401, or a 500 from dask-gateway's JupyterHubAuthenticator (hub says 403)
    if status == 401 or "verifying user's JupyterHub API token" in str(exc):
        return (
            f"The Dask Gateway at {address} did not accept your login ({exc}): it takes your own JupyterHub "
            f"API token ($JUPYTERHUB_API_TOKEN in a hub's kernels, or a token from the hub's Token page)."
        )
    if status == 403:
        return (
            f"The Dask Gateway at {address} refused (403): cluster {name} is another user's; each user "
            "reaches only their own clusters. Start your own (leave out the name)."
        )
    return (
        f"Could not get a cluster from the Dask Gateway at {address}: {type(exc).__name__}: "
        f"{exc}. Check the address and that you are logged in to its JupyterHub."
    )


def cluster_name(client: Any) -> str:
    """The gateway cluster name behind ``client`` (empty when it is not a gateway client)."""
    return str(getattr(_clusters.get(client.scheduler.address), "name", ""))
