"""Deploying registered models to edge hosts through generated Ansible projects.

>>> from jupyter_stratum import deploy
>>> result = deploy.deploy("churn@2", "edge.ini")      # runs ansible-runner, records the deployment
>>> deploy.rollback("churn", "edge.ini"); deploy.undeploy("churn", "edge.ini")
>>> deploy.list_deployments("churn")

Nothing here imports Ansible until a function that needs it is called. Local edge hosts
for tests and demos (network namespaces + sshd) are in :mod:`jupyter_stratum.testing`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "deploy": "core",
    "rollback": "core",
    "undeploy": "core",
    "list_deployments": "core",
    "last_deployment": "core",
    "DeploymentResult": "core",
    "HostResult": "core",
    "Deployment": "core",
    "use_registry": "core",
    "read_inventory": "inventory",
    "EdgeInventory": "inventory",
    "EdgeHost": "inventory",
    "render_project": "project",
    "DeployProject": "project",
    "DeployEvent": "runner",
    "DeployProgress": "progress",
    "CliProgress": "progress",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        mod = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'jupyter_stratum.deploy' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
