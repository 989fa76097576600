"""The rollout record without hosts: a registry at schema 3 gains the table, a rollout whose
process is gone reads ``interrupted``, ``abort`` closes it (hosts not reached keep their
release), and ``resume`` refuses a finished one. Real registry, real Ansible inventory parsing,
the CLI's own command path."""

from __future__ import annotations

import socket
import sqlite3

import pytest

from jupyter_stratum.commands import CommandContext, parse, run
from jupyter_stratum.errors import DeployError

INI = """\
[edge]
cam1 ansible_host=10.77.250.2
cam2 ansible_host=10.77.251.2
cam3 ansible_host=10.77.252.2
"""


def stratum(*argv: str):
    return run(parse(list(argv)), CommandContext(interactive=False))


def test_an_interrupted_rollout_reads_interrupted_and_abort_closes_it(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_stratum.deploy.gate import make_gate
    from jupyter_stratum.deploy.inventory import read_inventory
    from jupyter_stratum.deploy.rollout import new_rollout
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.registry.rollout import rollouts, save_rollout
    from jupyter_stratum.testing import bundle_lineage

    home = tmp_path / "home"
    reg = open_registry(home)
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    reg.register("iris", model, lineage=bundle_lineage(model, X, X.head(3)))
    # a registry written before rollouts existed (schema 3) gets the table when opened
    with sqlite3.connect(home / "registry.sqlite3") as conn:
        conn.execute("DROP TABLE rollouts")
        conn.execute("PRAGMA user_version = 3")
    reg = open_registry(home)
    assert rollouts(reg) == []

    (tmp_path / "edge.ini").write_text(INI)
    inv = read_inventory(tmp_path / "edge.ini")
    ro = new_rollout(reg, "iris@1", "v1-0123abcd", inv, [1, "100%"], 10, make_gate("5s", "2%", 80), 8500, {})
    assert [h.wave for h in ro.hosts] == [1, 2, 2] and ro.live_state == "running"
    ro.hosts[0].state, ro.hosts[0].version, ro.hosts[1].state = "done", "1", "running"
    ro.owner = f"{socket.gethostname()}:999999999"  # a process that is gone
    save_rollout(reg, ro)

    view = stratum("rollout", "status", "iris", "--home", str(home))
    assert view.exit_code == 5 and "interrupted" in view.to_text() and "rollout resume iris" in view.to_text()
    assert "soak 5 s, error rate <= 2.0%, p99 <= 80 ms; max fail 10%" in view.to_text()

    aborted = stratum("rollout", "abort", "iris", "--home", str(home))
    assert aborted.exit_code == 0 and aborted.rollout.state == "aborted"
    (stored,) = rollouts(reg, "iris")
    assert [(h.host, h.state) for h in stored.hosts] == [
        ("cam1", "done"),
        ("cam2", "not_reached"),
        ("cam3", "not_reached"),
    ]
    assert stratum("rollout", "status", "#" + str(stored.id), "--home", str(home)).exit_code == 3
    with pytest.raises(DeployError, match="already finished"):
        stratum("rollout", "abort", "iris", "--home", str(home))
    with pytest.raises(DeployError, match="Nothing to resume"):
        stratum("rollout", "resume", "iris", "--home", str(home))
