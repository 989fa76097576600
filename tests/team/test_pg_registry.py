"""The team registry on a real PostgreSQL server with artifacts at an fsspec URL: the Registry
interface unchanged, versioned migrations, concurrent writers, and a writer killed mid-upload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jupyter_stratum
from jupyter_stratum.errors import RegistryError
from jupyter_stratum.registry import open_registry
from jupyter_stratum.registry.store import sha256_of
from jupyter_stratum.team import open_team_registry
from jupyter_stratum.team.pg_index import SCHEMA_VERSION, PostgresIndex

WORKER = Path(__file__).with_name("_pg_worker.py")
REPO = Path(jupyter_stratum.__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def start_worker(dsn, tmp_path, name, n, worker, go, *flags):
    args = [str(tmp_path / "artifacts"), str(tmp_path / f"cache-{worker}"), name, str(n), worker, str(go)]
    return subprocess.Popen(
        [sys.executable, str(WORKER), dsn, *args, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def wait_for(path: Path, procs, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        for p in procs:
            assert p.poll() is None, p.communicate()
        time.sleep(0.05)


def test_registry_interface_on_postgres(team_dsn, tmp_path, monkeypatch):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_stratum.deploy.gate import make_gate
    from jupyter_stratum.deploy.inventory import read_inventory
    from jupyter_stratum.deploy.rollout import new_rollout
    from jupyter_stratum.registry.rollout import current_state, latest_rollout, rollouts, save_rollout, set_state

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    (tmp_path / "edge.ini").write_text("[edge]\ncam1 ansible_host=10.77.250.2\ncam2 ansible_host=10.77.251.2\n")
    inventory = read_inventory(tmp_path / "edge.ini")
    monkeypatch.setenv("STRATUM_REGISTRY_DSN", team_dsn)
    monkeypatch.setenv("STRATUM_ARTIFACTS_URL", f"file://{tmp_path / 'shared'}")
    registry = open_registry()  # the environment picks the team registry
    assert type(registry.index) is PostgresIndex
    first = registry.register("fraud-gbm", model, lineage={"metric": "accuracy", "cv_score": 0.9})
    second = registry.register("fraud-gbm", model, lineage={"metric": "accuracy", "cv_score": 0.95})
    assert (first.version, second.version) == (1, 2)
    assert (tmp_path / "shared" / second.artifact).is_file()
    assert sha256_of(tmp_path / "shared" / second.artifact) == second.sha256
    registry.set_alias("fraud-gbm", "champion", 1, actor="ana")
    registry.set_alias("fraud-gbm", "champion", 2, actor="ana")
    assert (jupyter_stratum.load("fraud-gbm@champion").predict(X) == model.predict(X)).all()
    assert [e.kind for e in registry.events("fraud-gbm")] == ["registered", "registered", "alias_set", "alias_moved"]
    assert registry.events("fraud-gbm")[-1].details == {"alias": "champion", "previous": 1}
    [summary] = registry.list_models()
    assert (summary.name, summary.latest_version, summary.n_versions, summary.cv_score) == ("fraud-gbm", 2, 2, 0.95)
    dep = registry.record_deployment({"model": "fraud-gbm@champion", "fleet": "plant-a", "password": "x"})
    updated = registry.update_deployment(dep, {"status": "ok"})
    assert (updated["model"], updated["password"], updated["status"]) == ("fraud-gbm@2", "<redacted>", "ok")
    assert registry.delete_alias("fraud-gbm", "champion") == 2
    # rollout records, as on SQLite: an abort asked while the driver runs survives the driver's next save
    ro = new_rollout(
        registry, "fraud-gbm@2", "v2-0123abcd", inventory, [1, "100%"], 10, make_gate("5s", "2%", 80), 8500, {}
    )
    assert (ro.id, [h.wave for h in ro.hosts]) == (1, [1, 2])
    set_state(registry, ro.id, "aborting", "aborted by `stratum rollout abort`")
    ro.hosts[0].state = "done"
    assert save_rollout(registry, ro).state == "aborting" and current_state(registry, ro.id) == "aborting"
    stored = latest_rollout(registry, "fraud-gbm")
    assert (stored.id, stored.state, stored.reason, stored.hosts[0].state) == (
        ro.id,
        "aborting",
        "aborted by `stratum rollout abort`",
        "done",
    )
    assert [r.id for r in rollouts(registry)] == [ro.id] and rollouts(registry, "other") == []
    with pytest.raises(RegistryError, match="no version 7"):
        registry.get("fraud-gbm@7")
    # versioned migrations: a second opening finds the schema current; a newer one is refused
    assert PostgresIndex(team_dsn).migrate() == SCHEMA_VERSION
    import psycopg

    with psycopg.connect(team_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO stratum_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(RegistryError, match="newer jupyter-stratum"):
        PostgresIndex(team_dsn)


def test_two_processes_register_20_versions_each(team_dsn, tmp_path):
    go = tmp_path / "go"
    open_team_registry(team_dsn, str(tmp_path / "artifacts"), tmp_path / "cache")  # schema first
    procs = [start_worker(team_dsn, tmp_path, "churn", 20, w, go) for w in "ab"]
    for w in "ab":
        wait_for(Path(f"{go}.ready-{w}"), procs)
    go.touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    seen = [[int(line.split()[1]) for line in out.splitlines()] for out, _ in outputs]
    assert sorted(seen[0] + seen[1]) == list(range(1, 41))
    registry = open_team_registry(team_dsn, str(tmp_path / "artifacts"), tmp_path / "cache")
    versions = registry.versions("churn")
    assert [v.version for v in versions] == list(range(1, 41))
    assert sorted(v.extra["worker"] for v in versions) == ["a"] * 20 + ["b"] * 20
    assert len({v.artifact for v in versions}) == 40
    for v in versions:  # load() checks each artifact's sha256 against the index
        assert registry.load(v.ref).predict([[5.0, 3.4, 1.5, 0.2]])[0] == 0
        assert sha256_of(tmp_path / "artifacts" / v.artifact) == v.sha256
    assert sorted(p.name for p in (tmp_path / "artifacts" / "artifacts" / "churn").iterdir()) == sorted(
        Path(v.artifact).name for v in versions
    )


def test_process_killed_mid_upload_leaves_no_version(team_dsn, tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    go = tmp_path / "go"
    registry = open_team_registry(team_dsn, str(tmp_path / "artifacts"), tmp_path / "cache")
    X, y = load_iris(return_X_y=True)
    before = registry.register("churn", DecisionTreeClassifier(max_depth=1).fit(X, y), lineage={})
    proc = start_worker(team_dsn, tmp_path, "churn", 1, "k", go, "--hang-mid-upload")
    try:
        wait_for(Path(f"{go}.ready-k"), [proc])
        go.touch()
        wait_for(Path(f"{go}.uploading-k"), [proc])
        model_dir = tmp_path / "artifacts" / "artifacts" / "churn"
        partial = [p for p in model_dir.iterdir() if p.name.startswith(".partial-")]
        assert len(partial) == 1 and partial[0].stat().st_size > 0  # really mid-upload
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert [v.version for v in registry.versions("churn")] == [1]  # the registry is as it was
    assert registry.get("churn").artifact == before.artifact
    assert [e.kind for e in registry.events("churn")] == ["registered"]
    # the dead writer's lock went with its connection: the next registration is version 2
    after = registry.register("churn", DecisionTreeClassifier(max_depth=2).fit(X, y), lineage={})
    assert after.version == 2
    registry.load("churn@1"), registry.load("churn@2")
    # its partial upload is garbage; the versions' files are kept
    orphans = registry.collect_garbage(older_than_s=0)
    assert len(orphans) == 1 and ".partial-" in orphans[0]
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(Path(v.artifact).name for v in (before, after))
