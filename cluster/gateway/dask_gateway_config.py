"""Dask Gateway server configuration for a JupyterHub team using jupyter-stratum.

    dask-gateway-server -f cluster/gateway/dask_gateway_config.py

Users ask for clusters from a notebook with ``%stratum cluster gateway [--gpu] [--workers N]``.
Cluster options (the sidebar of dask-labextension and ``gateway.cluster_options()`` show them):

- ``worker_cores`` / ``worker_memory`` — size of each worker;
- ``gpu`` — workers get one NVIDIA GPU each (Kubernetes: ``nvidia.com/gpu: 1``) and advertise the
  Dask resource ``GPU=1`` (through ``DASK_DISTRIBUTED__WORKER__RESOURCES``), so jupyter-stratum
  sends Keras candidates to them; scikit-learn tasks run there too;
- ``image`` — the worker image (Kubernetes), by default the notebook's own image.

A Dask Gateway cluster has one kind of worker: a team that wants CPU *and* GPU workers in one
cluster uses ``cluster/launch.py`` or ``cluster/docker`` and ``%stratum cluster connect``.

Environment variables select the deployment:

- ``STRATUM_GATEWAY_BACKEND``: ``kubernetes`` (default; run inside the cluster, e.g. with the
  dask-gateway Helm chart, pasting this file into ``gateway.extraConfig``), ``local`` (workers are
  local processes run as the requesting user; needs root) or ``local-unsafe`` (local processes of
  the server's own user — a single-user trial, or tests);
- ``STRATUM_GATEWAY_AUTH``: ``jupyterhub`` (default: users log in through JupyterHub; needs
  ``JUPYTERHUB_API_TOKEN`` and ``JUPYTERHUB_API_URL``) or ``simple`` (any user name; trials only);
- ``STRATUM_GATEWAY_ADDRESS``: the gateway's public address (default ``:8000``);
- ``STRATUM_GATEWAY_MAX_CORES`` / ``STRATUM_GATEWAY_MAX_MEMORY_GIB``: per-user limits.
"""

import os
import sys
from pathlib import Path

from dask_gateway_server.options import Bool, Float, Integer, Options, String

c = get_config()  # noqa: F821 - provided by traitlets when this file is loaded

backend = os.environ.get("STRATUM_GATEWAY_BACKEND", "kubernetes")
auth = os.environ.get("STRATUM_GATEWAY_AUTH", "jupyterhub")

# the public address (HTTP API and the schedulers' TLS proxy); the private API server stays on 127.0.0.1
c.Proxy.address = os.environ.get("STRATUM_GATEWAY_ADDRESS", ":8000")

# ---- authentication ------------------------------------------------------------
if auth == "jupyterhub":
    c.DaskGateway.authenticator_class = "dask_gateway_server.auth.JupyterHubAuthenticator"
    c.JupyterHubAuthenticator.jupyterhub_api_token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    c.JupyterHubAuthenticator.jupyterhub_api_url = os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
elif auth == "simple":
    c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
else:
    raise ValueError(f"STRATUM_GATEWAY_AUTH must be 'jupyterhub' or 'simple', got {auth!r}")

# ---- backend ---------------------------------------------------------------------
if backend == "kubernetes":
    c.DaskGateway.backend_class = "dask_gateway_server.backends.kubernetes.KubeBackend"
    cluster_config = c.KubeClusterConfig
    cluster_config.scheduler_cmd = ["dask", "scheduler"]
    cluster_config.worker_cmd = ["dask", "worker"]
elif backend in ("local", "local-unsafe"):
    c.DaskGateway.backend_class = (
        "dask_gateway_server.backends.local.UnsafeLocalBackend"
        if backend == "local-unsafe"
        else "dask_gateway_server.backends.local.LocalBackend"
    )
    cluster_config = c.LocalClusterConfig
    dask = str(Path(sys.executable).parent / "dask")  # the server's environment has jupyter-stratum
    cluster_config.scheduler_cmd = [dask, "scheduler"]
    cluster_config.worker_cmd = [dask, "worker"]
else:
    raise ValueError(f"STRATUM_GATEWAY_BACKEND must be kubernetes, local or local-unsafe, got {backend!r}")

cluster_config.idle_timeout = 3600  # seconds without a client before a cluster is stopped
cluster_config.cluster_max_cores = float(os.environ.get("STRATUM_GATEWAY_MAX_CORES", 32))
cluster_config.cluster_max_memory = f"{os.environ.get('STRATUM_GATEWAY_MAX_MEMORY_GIB', 128)} G"

DEFAULT_IMAGE = os.environ.get("JUPYTER_IMAGE_SPEC", "jupyter-stratum-worker:latest")


def options_handler(options, user):
    """Cluster options -> ClusterConfig fields (one kind of worker per cluster)."""
    out = {
        "worker_cores": options.worker_cores,
        "worker_memory": int(options.worker_memory * 2**30),
        "environment": {"TF_CPP_MIN_LOG_LEVEL": "2"},
    }
    if options.gpu:
        # one device and one task at a time per worker; jupyter-stratum asks GPU=1 for Keras candidates
        out["worker_threads"] = 1
        out["environment"]["DASK_DISTRIBUTED__WORKER__RESOURCES"] = '{"GPU": 1}'
        if backend == "kubernetes":
            out["worker_extra_container_config"] = {"resources": {"limits": {"nvidia.com/gpu": 1}}}
    else:
        out["environment"]["CUDA_VISIBLE_DEVICES"] = ""
    if backend == "kubernetes":
        out["image"] = options.image
    return out


c.Backend.cluster_options = Options(
    Integer("worker_cores", default=1, min=1, max=16, label="Cores per worker"),
    Float("worker_memory", default=4, min=1, max=64, label="Memory per worker (GiB)"),
    Bool("gpu", default=False, label="One NVIDIA GPU per worker (advertised to Dask as GPU=1)"),
    String("image", default=DEFAULT_IMAGE, label="Worker image (Kubernetes)"),
    handler=options_handler,
)
