"""examples/digits_keras.ipynb executes (nbclient, a real kernel and its embedded Dask cluster)."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.tensorflow,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorflow") is None,
        reason="TensorFlow is not installed (pip install -e '.[tensorflow]')",
    ),
]


def test_digits_keras_notebook_executes(stratum_home, tmp_path, run_notebook, cell_text):
    nb = run_notebook("digits_keras.ipynb", cwd=tmp_path, timeout=540)
    outputs = [cell_text(cell) for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert not any("stratum" in o and "error" in o and "stratum-error" in o for o in outputs), outputs
    dry = next(o for o in outputs if "Plan:" in o)
    assert "keras_cnn" in dry and "train on CPU workers" in dry  # no GPU worker on the embedded cluster
    summary = next(o for o in outputs if "holdout accuracy" in o)
    assert "digits@1" in summary
    # the registry the notebook wrote to is this test's one
    index = stratum_home / "registry.sqlite3"
    assert index.exists()
    history = next(o for o in outputs if "val_accuracy" in o)
    assert "loss" in history
    json.dumps(nb)  # the executed notebook is still valid JSON
