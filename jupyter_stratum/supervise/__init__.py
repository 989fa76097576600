"""Deployed models that look after themselves: reference statistics at training time, drift
detection calibrated by expected run length, and the supervisor's policy.

Drift statistics themselves live in :mod:`jupyter_stratum.serve.drift_tracking` (the edge runtime
is copied into bundles as a standalone package and computes them there); this package re-exports
them and adds what runs off the edge."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "reference_statistics": ".reference",
    "DriftDetector": ".drift",
    "detector_for": ".drift",
    "DriftConfig": ".drift",
    "ks_statistic": ".drift",
    "chi2_statistic": ".drift",
    "Policy": ".policy",
    "parse_policy": ".policy",
    "load_policy": ".policy",
    "Supervisor": ".supervisor",
    "fetch_capture": ".retrain",
    "labelled_frame": ".retrain",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
