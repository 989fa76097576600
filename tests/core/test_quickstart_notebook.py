"""examples/quickstart.ipynb executes headless (nbclient) and its output holds the leaderboard."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def execute(name: str, tmp_path: Path):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, tmp_path / name)
    return nb


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for mime in ("text/plain", "text/html"):
            if mime in out.get("data", {}):
                parts.append(out["data"][mime])
    return "\n".join(parts)


def test_quickstart_executes_and_shows_the_leaderboard(tmp_path, monkeypatch, dask_cluster):
    monkeypatch.setenv("STRATUM_SCHEDULER", dask_cluster.address)  # the kernel inherits it
    nb = execute("quickstart.ipynb", tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", outputs_text(cell)
    by_source = {c.source.splitlines()[0]: c for c in code}
    dry = outputs_text(by_source["%%stratum train cancer --dry-run"])
    assert "5 candidates × 5 folds = 25 tasks" in dry
    trained = outputs_text(by_source["%%stratum train cancer"])
    assert "Leaderboard" in trained and "roc_auc" in trained and "logistic_regression(C=0.1)" in trained
    assert "Registered as cancer@1" in trained
    assert "cancer" in outputs_text(by_source["%stratum models"])
    assert "sha256" in outputs_text(by_source["%stratum show cancer@1"])
    oops = outputs_text(by_source["%%stratum train oops"])
    assert "Did you mean 'random_forest'" in oops and "Traceback" not in oops
