"""Fixtures: real registries, real bundles, real runtime processes (defined in tests/_helpers.py)."""

from __future__ import annotations

from _helpers import (  # noqa: F401 - fixtures, found by pytest by name
    bundles,
    cancer,
    churn,
    churn_bundle,
    diabetes,
    diabetes_bundle,
    logreg,
    logreg_bundle,
    mixed,
    registry,
    serve,
)
