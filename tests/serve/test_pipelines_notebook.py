"""examples/pipelines.ipynb executes headless (nbclient, a real kernel, the session's real Dask cluster): three
models trained, a pipeline with a switch, a columns step and a step function registered, bundled, served by a real
runtime process, and its answers equal the models composed in Python."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_pipelines_notebook_executes(tmp_path, dask_cluster, run_notebook, cell_text, code_cells):
    nb = run_notebook(
        "pipelines.ipynb",
        cwd=tmp_path,
        env={"STRATUM_SCHEDULER": dask_cluster.address, "STRATUM_HOME": str(tmp_path / "home")},
    )
    by_first = code_cells(nb)
    assert "'steps/rules.py'" in cell_text(by_first["import json"])
    trace = cell_text(by_first["rows = X.sample(200, random_state=1)"])
    rows = {line.split(":")[0].strip(): int(line.split(":")[1].split()[0]) for line in trace.splitlines()}
    assert rows["screen"] == 200 and rows["fast"] + rows["deep"] == 200 and 0 < rows["fast"] < 200, trace
    composed = cell_text(by_first["import numpy as np"])
    assert "equal: True" in composed, composed
    assert int(composed.split("sent to review:")[1].split()[0]) > 0, composed
