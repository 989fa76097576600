"""Building and loading a bundle in a notebook kernel leaves the kernel's scikit-learn settings as they were
(the runtime's ``assume_finite`` is for its own process: it checks every value itself)."""

from __future__ import annotations

import sklearn

from jupyter_stratum.serve.model_loader import load_bundle


def test_building_and_loading_a_bundle_in_process_keeps_sklearn_config(registry, logreg, tmp_path):
    from _helpers import make_bundle

    before = sklearn.get_config()
    bundle = make_bundle(registry, logreg, tmp_path / "bundle")
    assert sklearn.get_config() == before
    load_bundle(bundle.path, threads=0)
    assert sklearn.get_config() == before
    load_bundle(bundle.path, backend="native", threads=1)  # as the runtime process loads it
    assert sklearn.get_config()["assume_finite"] is True
    sklearn.set_config(**before)
