"""Model registry: a SQLite index and an artifact directory under ``$STRATUM_HOME``.

>>> reg = open_registry()
>>> mv = reg.register("churn", fitted_pipeline, lineage={"metric": "roc_auc", ...})
>>> load("churn@1")
>>> reg.set_alias("churn", "champion", 1); load("churn@champion")
"""

from __future__ import annotations

from ..errors import RegistryError
from .deployment import Deployment, HostResult
from .events import Alias, ModelEvent
from .flavors import Flavor, flavor_names, get_flavor, register_flavor
from .index import ModelIndex, SQLiteIndex
from .model_version import ModelSummary, ModelVersion
from .reference import FeatureReference, ReferenceStats
from .refs import Ref, parse_ref, split_ref, validate_name
from .registry import Registry, default_root, load, open_registry
from .store import ArtifactStore, LocalArtifactStore

__all__ = [
    "Alias",
    "FeatureReference",
    "ModelEvent",
    "Ref",
    "ReferenceStats",
    "split_ref",
    "ArtifactStore",
    "Deployment",
    "Flavor",
    "HostResult",
    "LocalArtifactStore",
    "ModelIndex",
    "ModelSummary",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "SQLiteIndex",
    "default_root",
    "flavor_names",
    "get_flavor",
    "load",
    "open_registry",
    "parse_ref",
    "register_flavor",
    "validate_name",
]
