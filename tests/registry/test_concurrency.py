"""Two real processes registering the same name at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import jupyter_stratum
from jupyter_stratum.registry import open_registry

WORKER = Path(__file__).with_name("_register_worker.py")
REPO = Path(jupyter_stratum.__file__).resolve().parents[1]


def dict_of_lines(out: str) -> dict[str, list[float]]:
    report: dict[str, list[float]] = {"version": [], "start": [], "end": []}
    for line in out.splitlines():
        key, value = line.split()
        report[key].append(int(value) if key == "version" else float(value))
    return report


def test_two_processes_register_concurrently(tmp_path):
    root, go = tmp_path / "shared-home", tmp_path / "go"
    open_registry(root)  # schema exists; the workers race on registering, not on creating it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(root), "churn", "10", w, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in ("a", "b")
    ]
    deadline = time.monotonic() + 120
    while not all(Path(f"{go}.ready-{w}").exists() for w in "ab"):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.05)
    go.touch()  # both start registering at the same moment
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    reports = [dict_of_lines(out) for out, _ in outputs]
    seen = [sorted(r["version"]) for r in reports]
    assert all(len(s) == 10 for s in seen)
    assert sorted(seen[0] + seen[1]) == list(range(1, 21))
    # the two processes were registering during the same time window
    (a_start,), (a_end,), (b_start,), (b_end,) = (
        reports[0]["start"],
        reports[0]["end"],
        reports[1]["start"],
        reports[1]["end"],
    )
    assert a_start < b_end and b_start < a_end, reports

    registry = open_registry(root)
    versions = registry.versions("churn")
    assert [v.version for v in versions] == list(range(1, 21))
    assert sorted(v.extra["worker"] for v in versions) == ["a"] * 10 + ["b"] * 10
    assert len({v.artifact for v in versions}) == 20
    for v in versions:
        assert registry.load(v.ref).predict([[5.0, 3.4, 1.5, 0.2]])[0] == 0
    with sqlite3.connect(root / "registry.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    staged = list((root / "artifacts" / ".staging").iterdir())
    assert staged == []
    assert len(list((root / "artifacts" / "churn").iterdir())) == 20


def test_writer_killed_inside_its_transaction_leaves_registry_usable(tmp_path, fitted_pipeline):
    root, go = tmp_path / "shared-home", tmp_path / "go"
    registry = open_registry(root)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(root), "churn", "1", "k", str(go), "--hang-after-move"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        go.touch()
        deadline = time.monotonic() + 120
        while not Path(f"{go}.moved-k").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "worker never reached the move"
            time.sleep(0.05)
        # the worker holds the write lock, its row inserted and its file moved, not committed
        assert len(list((root / "artifacts" / "churn").iterdir())) == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert registry.names() == []  # its row died with it
    mv = registry.register("churn", fitted_pipeline, lineage={})  # the lock died with it too
    assert mv.version == 1
    registry.load("churn")
    assert registry.index.integrity_check() == "ok"
    # its moved file is an orphan: swept by collect_garbage, the registered one is kept
    orphans = registry.collect_garbage(older_than_s=0)
    assert len(orphans) == 1 and orphans[0] != mv.artifact
    assert sorted((root / "artifacts" / "churn").iterdir()) == [mv.artifact_path]
    registry.load("churn")
