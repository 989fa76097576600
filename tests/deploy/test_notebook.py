"""examples/edge_deploy.ipynb executes headless (nbclient): train, deploy to three local
edge hosts (network namespaces + sshd), predict over HTTP, monitor, undeploy."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_stratum.deploy.sandbox import cleanup_stale

from .conftest import edge_mode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for mime in ("text/plain", "text/html"):
            if mime in out.get("data", {}):
                parts.append(out["data"][mime])
    return "\n".join(parts)


def test_edge_deploy_notebook_executes(tmp_path, monkeypatch):
    mode, why = edge_mode()
    if mode is None:
        pytest.skip(why)
    work = tmp_path / "edge"
    monkeypatch.setenv("STRATUM_EDGE_WORKDIR", str(work))  # the kernel inherits these
    monkeypatch.setenv("STRATUM_EDGE_MODE", mode)
    nb = nbformat.read(EXAMPLES / "edge_deploy.ipynb", as_version=4)
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        cleanup_stale(work)  # the notebook stops its hosts; this covers a failed cell
        nbformat.write(nb, tmp_path / "edge_deploy.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", outputs_text(cell)
    by_first = {c.source.splitlines()[0]: c for c in code}
    deployed = outputs_text(by_first["result = %stratum deploy edge_demo --edge {inventory}"])
    assert "deploy edge_demo@1: ok" in deployed and "WARNING" not in deployed
    assert outputs_text(by_first["import json, urllib.request"]).count(" True ") == 3
    assert "p50 ms" in outputs_text(by_first["from jupyter_stratum import monitor"])
    assert "running: False" in outputs_text(by_first["import time"])
    assert "undeploy edge_demo: ok" in outputs_text(by_first["%stratum undeploy edge_demo --edge {inventory}"])
    assert not (work / "state.json").exists()
