"""examples/quickstart.ipynb executes headless (nbclient) and its output holds the leaderboard."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_quickstart_executes_and_shows_the_leaderboard(tmp_path, dask_cluster, run_notebook, cell_text):
    nb = run_notebook("quickstart.ipynb", cwd=tmp_path, env={"STRATUM_SCHEDULER": dask_cluster.address})
    code = [c for c in nb.cells if c.cell_type == "code"]
    by_source = {c.source.splitlines()[0]: c for c in code}
    oops_cell = by_source["%%stratum train oops"]
    for cell in code:
        if cell is not oops_cell:
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", cell_text(cell)
    dry = cell_text(by_source["%%stratum train cancer --dry-run"])
    assert "5 candidates × 5 folds = 25 tasks" in dry
    trained = cell_text(by_source["%%stratum train cancer"])
    assert "Leaderboard" in trained and "roc_auc" in trained and "logistic_regression(C=0.1)" in trained
    assert "Registered as cancer@1" in trained
    assert "cancer" in cell_text(by_source["%stratum models"])
    assert "sha256" in cell_text(by_source["%stratum show cancer@1"])
    # a spec mistake fails its cell (Run All and nbconvert stop there; the example tags it raises-exception)
    # with one message, not a traceback
    (error,) = [o for o in oops_cell.get("outputs", []) if o.get("output_type") == "error"]
    shown = "\n".join(error["traceback"])
    assert "Did you mean 'random_forest'" in shown and "Traceback" not in shown
    assert "raises-exception" in oops_cell.metadata.get("tags", [])
