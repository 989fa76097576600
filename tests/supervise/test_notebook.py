"""examples/supervise.ipynb executes headless (nbclient, a real kernel, the session's real Dask cluster):
train, serve, move the traffic, one `--once` poll that retrains, the live panel, the event story."""

from __future__ import annotations

import pytest

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_supervise_notebook_executes(tmp_path, dask_cluster, run_notebook, cell_text, code_cells):
    nb = run_notebook(
        "supervise.ipynb",
        cwd=tmp_path,
        store_widget_state=True,
        env={"STRATUM_SCHEDULER": dask_cluster.address, "STRATUM_HOME": str(tmp_path / "home")},
    )
    by_first = code_cells(nb)
    assert "drifted: ['x1']" in cell_text(by_first["rng = np.random.default_rng(1)"])
    once = cell_text(by_first["%stratum supervise churn --policy policy.yaml --host {url} --token-file token --once"])
    assert "churn: retrain (done): " in once and "features drifted (x1)" in once, once
    panel = by_first["panel = %stratum supervise churn --policy policy.yaml --host {url} --token-file token"]
    assert any(WIDGET_VIEW in out.get("data", {}) for out in panel.outputs), panel.outputs
    stopped = cell_text(by_first["for _ in range(3):"])
    assert "running: False" in stopped and int(stopped.split("panel updates:")[1].split()[0]) >= 2, stopped
    assert "supervise_retrained" in cell_text(
        by_first["%stratum events churn --kind supervise_decision --kind supervise_retrained"]
    )
    accuracy = cell_text(by_first["import jupyter_stratum"]).split()
    champion, challenger = float(accuracy[2]), float(accuracy[5])
    assert challenger >= 0.9 > champion + 0.2, accuracy
