"""Drift detection off the edge: the runtime's own statistics and tracker (one implementation,
:mod:`jupyter_stratum.serve.drift_tracking`), set up from a registered version's reference."""

from __future__ import annotations

from ..serve.drift_tracking import (
    DriftConfig,
    DriftReport,
    DriftTracker,
    FeatureDrift,
    chi2_statistic,
    chi2_threshold,
    ks_statistic,
    ks_threshold,
    level_for_ert,
)

__all__ = [
    "DriftConfig",
    "DriftDetector",
    "DriftReport",
    "FeatureDrift",
    "chi2_statistic",
    "chi2_threshold",
    "detector_for",
    "ks_statistic",
    "ks_threshold",
    "level_for_ert",
]

#: the same class under the name the supervisor reads best
DriftDetector = DriftTracker


def detector_for(mv, config: DriftConfig | None = None) -> DriftTracker:
    """A tracker over the columns of model version ``mv`` (a ModelVersion with reference statistics)."""
    from ..errors import RegistryError

    if mv.reference is None:
        raise RegistryError(
            f"{mv.ref} has no reference statistics (registered before drift tracking, or image data): "
            "register it again with `%%stratum train`, or pass reference=reference_statistics(X) in its lineage."
        )
    columns = [c["name"] for c in (mv.input_schema or {}).get("columns", [])] or [f.name for f in mv.reference.features]
    return DriftTracker(mv.reference.to_dict(), columns, config, model=mv.name, version=str(mv.version))
