"""Cluster access: the embedded LocalCluster, a scheduler address or a Dask Gateway (``client``),
and per-worker CPU/memory while training (``metrics``)."""

from __future__ import annotations

from .client import (
    SCHEDULER_ENV,
    ClusterInfo,
    WorkerInfo,
    close,
    cluster_info,
    configured_scheduler,
    connect,
    embedded_client,
    local,
    probe,
    use,
    use_for_training,
    worker_label,
)
from .gateway_client import gateway

__all__ = [
    "SCHEDULER_ENV",
    "ClusterInfo",
    "WorkerInfo",
    "close",
    "cluster_info",
    "configured_scheduler",
    "connect",
    "embedded_client",
    "local",
    "probe",
    "gateway",
    "use",
    "use_for_training",
    "worker_label",
]
