"""A built-in flavor comes back on first use even when its module was imported before the table was reset."""

from __future__ import annotations

import importlib.util

import pytest

from jupyter_stratum.registry import flavors


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="the keras flavor needs TensorFlow")
def test_keras_flavor_returns_after_a_reset(monkeypatch):
    import jupyter_stratum.keras.flavor  # noqa: F401 - imported first, as another test or a kernel may have done

    monkeypatch.setattr(flavors, "_FLAVORS", {k: v for k, v in flavors._FLAVORS.items() if k != "keras"})
    assert "keras" not in flavors._FLAVORS
    assert flavors.get_flavor("keras").name == "keras"
