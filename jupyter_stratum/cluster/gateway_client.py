"""A Dask cluster from a Dask Gateway (e.g. a JupyterHub's), usable for training.

``gateway()`` starts (or joins) a gateway cluster, makes its client the one
:func:`~jupyter_stratum.cluster.client.connect` returns for its scheduler address, and,
by default, makes that address the one training uses. The magic, the CLI and
``jupyter_stratum.connect(gateway=True)`` all come here.
"""

from __future__ import annotations

from typing import Any

from ..errors import ClusterError
from .client import use, use_for_training

_clusters: dict[str, Any] = {}  # scheduler address -> GatewayCluster, alive while its client is used


def gateway(
    address: str | None = None,
    *,
    name: str | None = None,
    workers: int | None = None,
    gpu: bool = False,
    timeout: float = 300,
    for_training: bool = True,
) -> Any:
    """A ``distributed.Client`` of a Dask Gateway cluster.

    ``address``: the gateway (default: the dask config, which JupyterHub's dask-gateway
    setup writes); ``name``: join this running cluster instead of starting one;
    ``workers``: scale to N and wait up to ``timeout`` s for them; ``gpu``: ask for GPU
    workers (cluster option ``gpu``, see cluster/gateway). Raises :class:`ClusterError`
    with what to do when the gateway cannot be reached or refuses.
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
    try:
        gw = Gateway(address) if address else Gateway()
        if name:
            gc = gw.connect(name)
        else:
            options = gw.cluster_options()
            if gpu:
                if "gpu" not in options:
                    raise ClusterError(
                        "This Dask Gateway has no 'gpu' cluster option. Use the configuration "
                        "in cluster/gateway/ (or ask its admin), or leave out --gpu."
                    )
                options.gpu = True
            gc = gw.new_cluster(options)
        if workers:
            gc.scale(workers)
        client = gc.get_client(set_as_default=False)
        if workers:
            client.wait_for_workers(workers, timeout=timeout)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001 - connection, auth and option errors of dask-gateway
        where = address or "the address in the dask config (gateway.address)"
        raise ClusterError(
            f"Could not get a cluster from the Dask Gateway at {where}: {type(exc).__name__}: "
            f"{exc}. Check the address and that you are logged in to its JupyterHub."
        ) from None
    scheduler = client.scheduler.address
    _clusters[scheduler] = gc
    use(client, scheduler)  # the gateway's client (TLS, proxied) is the one to reuse for this address
    if for_training:
        use_for_training(scheduler)
    return client


def cluster_name(client: Any) -> str:
    """The gateway cluster name behind ``client`` (empty when it is not a gateway client)."""
    return str(getattr(_clusters.get(client.scheduler.address), "name", ""))
