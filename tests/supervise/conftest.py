"""Fixtures: a real registry, a real bundle with reference statistics, real runtime processes
(the server helpers of tests/_helpers.py)."""

from __future__ import annotations

from _helpers import (  # noqa: F401 - fixtures, found by pytest by name
    bundles,
    mixed,
    serve,
)
