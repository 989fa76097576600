"""examples/edge_deploy.ipynb executes headless (nbclient): train, deploy to three local
edge hosts (network namespaces + sshd), predict over HTTP, monitor, undeploy."""

from __future__ import annotations

import pytest

from jupyter_stratum.testing import cleanup_stale, edge_mode

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def test_edge_deploy_notebook_executes(tmp_path, run_notebook, cell_text):
    mode, why = edge_mode()
    if mode is None:
        pytest.skip(why)
    work = tmp_path / "edge"
    try:
        nb = run_notebook(
            "edge_deploy.ipynb",
            cwd=tmp_path,
            timeout=900,
            env={"STRATUM_EDGE_WORKDIR": str(work), "STRATUM_EDGE_MODE": mode},
        )
    finally:
        cleanup_stale(work)  # the notebook stops its hosts; this covers a failed cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", cell_text(cell)
    by_first = {c.source.splitlines()[0]: c for c in code}
    deployed = cell_text(by_first["result = %stratum deploy edge_demo --edge {inventory}"])
    assert "deploy edge_demo@1: ok" in deployed and "WARNING" not in deployed
    assert cell_text(by_first["import json"]).count(" True ") == 3
    assert "p50 ms" in cell_text(by_first["from jupyter_stratum import monitor"])
    assert "running: False" in cell_text(by_first["import time"])
    assert "undeploy edge_demo: ok" in cell_text(by_first["%stratum undeploy edge_demo --edge {inventory}"])
    assert not (work / "state.json").exists()
