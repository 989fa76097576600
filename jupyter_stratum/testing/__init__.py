"""Helpers for testing, demonstrating and benchmarking jupyter-stratum with real parts:
throwaway edge hosts (network namespaces + sshd, :mod:`.edge_hosts`) and a client for
the models they serve (:mod:`.served`). Not used by the shipped code paths.

>>> from jupyter_stratum.testing import LocalEdgeHosts
>>> hosts = LocalEdgeHosts(3, "edge").start(); ...; hosts.stop()
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "LocalEdgeHosts": "edge_hosts",
    "SandboxHost": "edge_hosts",
    "cleanup_stale": "edge_hosts",
    "edge_mode": "edge_hosts",
    "loopback_support": "edge_hosts",
    "port_open": "edge_hosts",
    "sandbox_support": "edge_hosts",
    "wait_closed": "edge_hosts",
    "bundle_lineage": "served",
    "http_json": "served",
    "predict": "served",
    "served_version": "served",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        mod = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'jupyter_stratum.testing' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
