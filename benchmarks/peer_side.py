"""Run a peer's side of a benchmark in the peer's own Python environment (PyCaret, MLflow ...: their pins
clash with the project's), and read back the one JSON line it prints last.

Each peer gets a venv outside the repository, e.g. ``python3 -m venv /tmp/mlflow && /tmp/mlflow/bin/pip
install mlflow skops``, and a ``*_side.py`` script beside its benchmark; the benchmark passes the peer's
interpreter on its command line (``--pycaret PYTHON``, ``--mlflow PYTHON``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path


def run_side(python: str, script: Path, *args: str, timeout_s: float | None = None) -> dict:
    """``python script args...`` in a temporary working directory (peers write logs and caches where they
    run); its last stdout line, parsed. A failed side stops the benchmark with the tail of its stderr."""
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run([python, str(script), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout_s)
    if out.returncode != 0:
        raise SystemExit(f"{script.name} failed ({python}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
