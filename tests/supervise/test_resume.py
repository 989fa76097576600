"""A supervisor killed between registering its challenger and recording it: the next one finds the
challenger from its lineage, records it, and neither trains again nor acts twice. The first supervisor
is a real `stratum supervise --once` process, killed (SIGKILL) at that point by its test hook."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _supervise_scenario import drifted_traffic_with_labels, train_parent

from jupyter_stratum.cli import main

pytestmark = [pytest.mark.cluster]


def test_killed_after_registering_resumes_without_training_again(client, dask_cluster, mixed, serve, tmp_path):
    from jupyter_stratum.bundle import build_bundle

    registry, parent = train_parent(client, mixed, tmp_path)
    home = registry.root
    bundle = build_bundle(parent.ref, tmp_path / "bundle", registry=registry, force=True)
    token = "t0k-resume"
    (tmp_path / "token").write_text(token)
    server = serve(
        bundle.path,
        *("--drift-window", "60", "--drift-check-every", "10", "--drift-min-interval-ms", "0"),
        *("--capture", "200", "--capture-dir", str(tmp_path / "capture")),
        token=token,
    )
    assert set(drifted_traffic_with_labels(server, mixed)) == {200}
    (tmp_path / "policy.yaml").write_text("drift: {features_share: 0.3, for: 1}\n")
    argv = [
        *("supervise", "churn", "--policy", str(tmp_path / "policy.yaml"), "--once", "--host", server.url),
        *("--token-file", str(tmp_path / "token"), "--cluster", dask_cluster.address, "--home", str(home)),
    ]
    stratum = Path(sys.executable).parent / "stratum"
    env = {**os.environ, "STRATUM_SUPERVISE_DIE_AT": "registered"}
    killed = subprocess.run([str(stratum), *argv], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    # it died with version 2 registered from its decision, and nothing recorded after that
    versions = registry.versions("churn")
    assert [v.version for v in versions] == [1, 2]
    kinds = [e.kind for e in registry.events("churn")]
    decided = registry.events("churn", kinds=("supervise_decision",))[-1]
    assert decided.details["action"] == "retrain" and versions[-1].extra["retrain"]["event"] == decided.id
    assert "supervise_retrained" not in kinds and registry.aliases("churn") == []

    # the next supervisor (the same command, no hook) resumes: challenger and event, no second training
    assert main(argv) == 0
    assert [v.version for v in registry.versions("churn")] == [1, 2]
    assert {a.alias: a.version for a in registry.aliases("churn")} == {"challenger": 2}
    retrained = registry.events("churn", kinds=("supervise_retrained",))
    assert len(retrained) == 1 and retrained[0].version == 2
    assert retrained[0].details == {"decision": decided.id, "parent": 1, "captured_rows": 60, "resumed": True}
    # that poll and the next ones see the challenger: no second retrain decision
    assert main(argv) == 0
    retrains = [e for e in registry.events("churn", kinds=("supervise_decision",)) if e.details["action"] == "retrain"]
    assert retrains == [decided] and len(registry.versions("churn")) == 2
