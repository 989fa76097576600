"""Keras tests: skip without TensorFlow; keep the registry's flavor table as each test found it."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _restore_flavors(monkeypatch):
    """Fitting or unpickling a Keras estimator registers the 'keras' flavor in this process;
    undo that after each test so other areas' tests see the flavor table they expect."""
    from jupyter_stratum.registry import flavors

    monkeypatch.setattr(flavors, "_FLAVORS", dict(flavors._FLAVORS))

