"""The team recipe's Dask Gateway: cluster/gateway/dask_gateway_config.py (backend, JupyterHub
authentication, cluster options) plus a quota per team from the hub groups ``team-<T>``.

    STRATUM_GATEWAY_TEAM_QUOTAS='{"fraud": {"clusters": 2, "workers": 4}, "*": {"clusters": 1, "workers": 2}}'
    dask-gateway-server -f cluster/team/dask_gateway_config.py

The hub starts it as its ``dask-gateway`` service (cluster/team/jupyterhub_config.py). Each user
logs in with their own hub token and sees and uses only their own clusters; a team's members
together run at most ``clusters`` clusters of at most ``workers`` workers each (see
jupyter_stratum/team/gateway.py). Without the variable every team gets one cluster of 2 workers.
"""

import os
from pathlib import Path

from jupyter_stratum.team.gateway import QUOTAS_ENV, apply_team_quotas

c = get_config()  # noqa: F821 - provided by traitlets when this file is loaded
load_subconfig(str(Path(__file__).resolve().parents[1] / "gateway" / "dask_gateway_config.py"))  # noqa: F821

apply_team_quotas(c, os.environ.get(QUOTAS_ENV) or {"*": {"clusters": 1, "workers": 2}})
