"""Shared fixtures: a temporary registry for every test, real Dask clusters, and
executing an example notebook.

The clusters are real: `dask scheduler` and `dask worker` processes started as
subprocesses on 127.0.0.1, exactly as a team would start them. Notebooks run in a
real kernel through nbclient.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def stratum_home(tmp_path, monkeypatch):
    """Every test gets its own empty registry."""
    home = tmp_path / "stratum-home"
    monkeypatch.setenv("STRATUM_HOME", str(home))
    monkeypatch.delenv("STRATUM_SCHEDULER", raising=False)
    # a team registry in the environment (a hub's spawner sets these) must not catch the tests' registries
    monkeypatch.delenv("STRATUM_REGISTRY_URL", raising=False)
    monkeypatch.delenv("STRATUM_REGISTRY_DSN", raising=False)
    return home


@dataclass
class DaskProcesses:
    """A scheduler and workers running as separate processes."""

    address: str
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    workdir: Path | None = None

    def add_worker(self, name: str, *args: str, nanny: bool = True) -> subprocess.Popen:
        cmd = [
            str(BIN / "dask"),
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--name",
            name,
            "--no-dashboard",
            "--local-directory",
            str(self.workdir / name),
            *args,
        ]
        if not nanny:
            cmd.append("--no-nanny")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.workers[name] = proc
        return proc

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (nanny and worker alike): the worker is gone."""
        proc = self.workers[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in list(self.workers.values()) + [self.scheduler]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


def start_dask(tmp: Path, workers: dict[str, tuple] | None = None, nanny: bool = True) -> DaskProcesses:
    from distributed import Client

    tmp.mkdir(parents=True, exist_ok=True)
    scheduler_file = tmp / "scheduler.json"
    scheduler = subprocess.Popen(
        [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            ":0",
            "--scheduler-file",
            str(scheduler_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while not scheduler_file.exists():
        if time.time() > deadline or scheduler.poll() is not None:
            scheduler.kill()
            raise RuntimeError("dask scheduler did not start")
        time.sleep(0.1)
    import json

    address = json.loads(scheduler_file.read_text())["address"]
    procs = DaskProcesses(address, scheduler, workdir=tmp)
    workers = workers if workers is not None else {"cpu-1": (), "cpu-2": ()}
    for name, args in workers.items():
        procs.add_worker(name, *args, nanny=nanny)
    with Client(address, timeout=30) as client:
        client.wait_for_workers(len(workers), timeout=120)
    return procs


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A scheduler and two workers (cpu-1, cpu-2), shared by the session."""
    procs = start_dask(tmp_path_factory.mktemp("dask"))
    yield procs
    procs.stop()


@pytest.fixture(scope="session")
def client(dask_cluster):
    from distributed import Client

    c = Client(dask_cluster.address, timeout=30, set_as_default=False)
    yield c
    c.close()


BREAST_CANCER_SPEC = """\
data: sklearn:breast_cancer
split: {test_size: 0.2, cv: 5, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: [0.1, 1, 10]}
  - random_forest: {n_estimators: 30}
metric: roc_auc
"""


@pytest.fixture
def breast_cancer_spec() -> str:
    return BREAST_CANCER_SPEC


@pytest.fixture
def dask_factory(tmp_path):
    """Start extra, test-owned Dask clusters: ``dask_factory(workers={...}, nanny=False)``."""
    started: list[DaskProcesses] = []

    def factory(workers: dict[str, tuple] | None = None, nanny: bool = True) -> DaskProcesses:
        procs = start_dask(tmp_path / f"dask-{len(started)}", workers, nanny)
        started.append(procs)
        return procs

    yield factory
    for procs in started:
        procs.stop()


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def execute_notebook(
    path: str | Path, *, cwd: Path, timeout: int = 600, env: dict | None = None, store_widget_state: bool = False
):
    """Execute the notebook at ``path`` (relative: under examples/) in a fresh python3 kernel
    (nbclient); returns the executed notebook node.

    The kernel starts in ``cwd`` with this process's environment plus ``env``. The
    executed notebook is saved as ``cwd / path.name`` even when a cell fails (a
    failing cell raises nbclient's ``CellExecutionError``), so it can be looked at.
    """
    import nbformat
    from nbclient import NotebookClient

    path = EXAMPLES / path if not Path(path).is_absolute() else Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=store_widget_state,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute(env={**os.environ, **(env or {})})
    finally:
        nbformat.write(nb, cwd / path.name)
    return nb


def outputs_text(cell) -> str:
    """A code cell's printed and displayed text (streams, text/plain and text/html), one part a line."""
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for mime in ("text/plain", "text/html"):
            if mime in out.get("data", {}):
                parts.append(out["data"][mime])
    return "\n".join(parts)


@pytest.fixture(scope="session")
def run_notebook():
    """:func:`execute_notebook`: ``run_notebook(EXAMPLES / "x.ipynb", cwd=tmp_path, timeout=..., env={...})``."""
    return execute_notebook


def code_cells_by_first_line(nb) -> dict:
    """An executed notebook's code cells by their first line, after checking that none shows an error."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", "".join(out.get("traceback", []))
    return {c.source.splitlines()[0]: c for c in code}


@pytest.fixture(scope="session")
def code_cells():
    """:func:`code_cells_by_first_line`."""
    return code_cells_by_first_line


@pytest.fixture(scope="session")
def cell_text():
    """:func:`outputs_text`: the text a code cell's outputs show."""
    return outputs_text
