"""The notebook under real use: Stop in a real kernel leaves the embedded cluster working; a bad
spec fails the cell (nbconvert stops); worker-side exceptions are one short line per candidate."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from jupyter_stratum.events import RunFinished, TaskFailed
from jupyter_stratum.training import train

pytestmark = pytest.mark.cluster

BIN = Path(sys.executable).parent

SLOW_SPEC = """\
data: sklearn:digits
split: {cv: 5}
models:
  - random_forest: {n_estimators: [300, 301, 302, 303]}
"""

QUICK_SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 3, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: [0.1, 1]}
  - decision_tree: {max_depth: 3}
metric: roc_auc
"""

# accepted by the spec (each value is valid alone); scikit-learn refuses the pair when fitting, on the worker
FAILING_SPEC = """\
data: sklearn:iris
split: {cv: 5, seed: 0}
models:
  - logistic_regression: {penalty: l1, solver: lbfgs}
  - decision_tree: {max_depth: 2}
metric: accuracy
"""


def test_worker_exception_is_one_short_line_per_candidate_and_counts_folds(client):
    events = []
    result = train(FAILING_SPEC, name=None, client=client, on_event=events.append)
    failed = [e for e in events if isinstance(e, TaskFailed)]
    bad = result.candidate("logistic_regression")
    # every fold of the failed candidate counts, each once
    assert sorted(e.fold for e in failed) == [0, 1, 2, 3, 4]
    assert {e.candidate_id for e in failed} == {"logistic_regression"}
    finished = next(e for e in events if isinstance(e, RunFinished))
    assert finished.n_failed == 5 and finished.n_tasks == 10
    # one short line: the exception's type and text, the fold; no Dask traceback
    assert bad.failed and bad.error.startswith("fold ") and "ValueError: " in bad.error
    assert "lbfgs" in bad.error and "\n" not in bad.error and len(bad.error) < 400
    for e in failed:
        assert "\n" not in e.error and "Traceback" not in e.error and "distributed" not in e.error
    assert result.best.id == "decision_tree"
    text = result.leaderboard.to_text()
    assert "ValueError" in text and "Traceback" not in text


def _kernel(tmp_path):
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    env = {**os.environ, "STRATUM_HOME": str(tmp_path / "home")}
    env.pop("STRATUM_SCHEDULER", None)
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def _execute(kc, code: str, timeout: float = 300) -> tuple[dict, str]:
    out: list[str] = []

    def hook(msg):
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(content["traceback"]))
        elif msg["msg_type"] in ("execute_result", "display_data"):
            out.append(content["data"].get("text/plain", ""))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return reply["content"], "".join(out)


def test_stop_in_a_real_kernel_keeps_the_embedded_cluster(tmp_path):
    """What the notebook's Stop button does: jupyter_client sends SIGINT to the kernel's whole process
    group, where the embedded cluster's worker processes are. They must live; the next run trains."""
    km, kc = _kernel(tmp_path)
    try:
        reply, out = _execute(
            kc,
            "%load_ext jupyter_stratum\n"
            "import os\n"
            "from jupyter_stratum.cluster.client import connect\n"
            "c = connect(n_workers=2)\n"
            "pids = sorted(c.run(os.getpid).values())\n"
            "print('workers', pids, os.getpgid(pids[0]) == os.getpgid(0))",
        )
        assert reply["status"] == "ok", out
        assert "workers [" in out
        msg_id = kc.execute(
            "from jupyter_stratum.training import train\n"
            "from jupyter_stratum.events import TaskFinished\n"
            "def on(e):\n"
            "    if isinstance(e, TaskFinished): print('finished', flush=True)\n"
            f"train({SLOW_SPEC!r}, name=None, on_event=on)\n"
        )
        # wait until the run is under way (a first fold finished), then Stop
        deadline = time.time() + 240
        running = False
        while time.time() < deadline and not running:
            msg = kc.get_iopub_msg(timeout=240)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                running = "finished" in msg["content"]["text"]
        assert running, "the slow run never started"
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=120)["content"]
        assert reply["status"] == "error" and "Interrupted" in reply["evalue"], reply

        reply, out = _execute(
            kc,
            "c2 = connect()\nprint('same', c2 is c, sorted(c2.run(os.getpid).values()) == pids)",
        )
        assert reply["status"] == "ok", out
        assert "same True True" in out, out  # the same workers, alive
        reply, out = _execute(kc, f"%%stratum train again --no-register\n{QUICK_SPEC}")
        assert reply["status"] == "ok", out
        assert "Best: " in out and "tasks in" in out, out
        reply, out = _execute(kc, "print('embedded', _.cluster['embedded'], len(_.cluster['workers']))")
        assert "embedded True 2" in out, out
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _nbconvert(*args, cwd: Path):
    env = {**os.environ, "STRATUM_HOME": str(cwd / "home")}
    env.pop("STRATUM_SCHEDULER", None)
    return subprocess.run(
        [str(BIN / "jupyter"), "nbconvert", "--execute", "--ExecutePreprocessor.timeout=600", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )


def test_nbconvert_execute_stops_at_a_bad_spec(tmp_path):
    nb = _notebook(
        tmp_path / "bad.ipynb",
        [
            "%load_ext jupyter_stratum",
            "%%stratum train oops\ndata: sklearn:iris\nmodels: [random_forrest]\n",
            "print('ran past the bad cell')",
        ],
    )
    out = _nbconvert("--to", "notebook", "--output", "bad-out.ipynb", str(nb), cwd=tmp_path)
    assert out.returncode != 0
    assert "stratum spec error" in out.stderr and "Did you mean 'random_forest'" in out.stderr
    assert "ran past the bad cell" not in out.stderr


def test_nbconvert_html_shows_leaderboard_and_roc_without_a_kernel(tmp_path):
    nb = _notebook(
        tmp_path / "good.ipynb",
        ["%load_ext jupyter_stratum", f"%%stratum train cancer --no-register\n{QUICK_SPEC}"],
    )
    out = _nbconvert("--to", "html", "--output", "good.html", str(nb), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    from html.parser import HTMLParser

    page = (tmp_path / "good.html").read_text()

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.classes: list[str] = []
            self.images: list[str] = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.classes += (attrs.get("class") or "").split()
            if tag == "img" and (attrs.get("src") or "").startswith("data:image/svg+xml;base64,"):
                self.images.append(base64.b64decode(attrs["src"].split(",", 1)[1]).decode())

    parsed = Collect()
    parsed.feed(page)
    assert "stratum-leaderboard" in parsed.classes and "stratum-static-roc" in parsed.classes
    # a ROC and a PR curve per candidate, drawn without any script: SVG images (not inline <svg>, which
    # JupyterLab's sanitizer drops from an untrusted output)
    assert sum(svg.count("<polyline") for svg in parsed.images) >= 3 * 2
    assert all("<script" not in svg for svg in parsed.images)
    assert "logistic_regression(C=0.1)" in page and "AUC 0." in page
