"""JupyterHub side of a Dask Gateway for jupyter-stratum (merge into your jupyterhub_config.py).

The gateway runs as a JupyterHub service: users log in to it through the hub, and every
single-user server knows its address, so ``%stratum cluster gateway`` needs no arguments.

    export DASK_GATEWAY_API_TOKEN=$(openssl rand -hex 32)   # shared by the hub and the gateway
    jupyterhub -f jupyterhub_config.py
    # the service below starts: dask-gateway-server -f cluster/gateway/dask_gateway_config.py

On Kubernetes use the dask-gateway Helm chart instead of the service command (its values put
cluster/gateway/dask_gateway_config.py into ``gateway.extraConfig``) and keep the
environment part below in the hub's ``extraConfig``.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821

HERE = Path(__file__).resolve().parent
token = os.environ["DASK_GATEWAY_API_TOKEN"]
gateway_port = int(os.environ.get("STRATUM_GATEWAY_PORT", "8010"))  # the hub itself has 8000

c.JupyterHub.services = [
    {
        "name": "dask-gateway",
        "api_token": token,
        "url": f"http://127.0.0.1:{gateway_port}",
        "oauth_no_confirm": True,
        # drop "command" on Kubernetes (the Helm chart runs the gateway)
        "command": [
            str(Path(sys.executable).parent / "dask-gateway-server"),
            "-f",
            str(HERE / "dask_gateway_config.py"),
        ],
        "environment": {
            "JUPYTERHUB_API_TOKEN": token,
            "STRATUM_GATEWAY_BACKEND": os.environ.get("STRATUM_GATEWAY_BACKEND", "local"),
            "STRATUM_GATEWAY_AUTH": "jupyterhub",
            "STRATUM_GATEWAY_ADDRESS": f"127.0.0.1:{gateway_port}",
        },
    }
]
c.JupyterHub.load_roles = [
    {"name": "dask-gateway", "services": ["dask-gateway"], "scopes": ["read:users:name"]},
]

# every user's server: the gateway address (through the hub's proxy) and JupyterHub auth
public = os.environ.get("JUPYTERHUB_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
c.Spawner.environment = {
    "DASK_GATEWAY__ADDRESS": f"{public}/services/dask-gateway",
    "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
}
