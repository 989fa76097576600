"""Keras tests: keep the registry's flavor table as each module and test found it.

Fitting or unpickling a Keras estimator registers the 'keras' flavor in this process
(jupyter_stratum.keras.flavor.register). Other areas' tests, run later in the same
process, expect the table they know, so every module and test here puts it back.
"""

from __future__ import annotations

import pytest


def _snapshot():
    from jupyter_stratum.registry import flavors

    return flavors, dict(flavors._FLAVORS)


@pytest.fixture(autouse=True, scope="module")
def _restore_flavors_per_module():
    flavors, saved = _snapshot()  # before any module-scoped fixture fits a model
    yield
    flavors._FLAVORS.clear()
    flavors._FLAVORS.update(saved)


@pytest.fixture(autouse=True)
def _restore_flavors(monkeypatch):
    from jupyter_stratum.registry import flavors

    monkeypatch.setattr(flavors, "_FLAVORS", dict(flavors._FLAVORS))
