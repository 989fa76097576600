"""Fixtures for the deploy tests: real edge hosts, a real registry, real bundles.

Edge hosts are network namespaces, each running its own sshd (see
jupyter_stratum.testing.edge_hosts): Ansible reaches them over
real SSH at 10.77.N.2, and the model services run inside them. Where namespaces
can't be made but root can run sshd, hosts fall back to sshd on 127.0.0.N ports;
otherwise the tests skip and say why. Every namespace and process started here is
stopped by the fixtures' finalizers (and a crashed run's leftovers at the next start).
"""

from __future__ import annotations

import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyter_stratum.testing import LocalEdgeHosts, bundle_lineage, cleanup_stale, edge_mode

STALE_DIR = Path("/tmp/stratum-test-edge-hosts")


def site_dirs() -> list[str]:
    """This interpreter's package directories: edge hosts share this machine's disk, so
    their environments reuse the exact library versions the bundle pins (pip checks them)."""
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def _start_hosts(tmp_path_factory, count: int, name: str, *, netns_only: bool = False):
    mode, why = edge_mode()
    if mode is None or (netns_only and mode != "netns"):
        pytest.skip(why or f"{count} edge hosts need network namespaces (found only {mode})")
    # a crashed earlier run may have left hosts behind (a concurrent session's are kept)
    STALE_DIR.mkdir(exist_ok=True)
    for link in list(STALE_DIR.iterdir()):
        if cleanup_stale(link, only_dead_owner=True) or not (link / "state.json").exists():
            link.unlink(missing_ok=True)
    work = Path(tmp_path_factory.mktemp(name))
    link = STALE_DIR / f"{os.getpid()}-{work.name}"
    link.unlink(missing_ok=True)
    link.symlink_to(work)
    hosts = LocalEdgeHosts(count, work, mode=mode)
    try:
        hosts.start()
    except Exception as exc:  # pragma: no cover - environment specific
        hosts.stop()
        pytest.skip(f"edge hosts could not be started: {exc}")
    return hosts, link


@pytest.fixture(scope="session")
def edge_hosts(tmp_path_factory):
    """Three real edge hosts (netns + sshd), stopped at the end of the session."""
    hosts, link = _start_hosts(tmp_path_factory, 3, "edge")
    yield hosts
    hosts.stop()
    link.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def fleet_hosts(tmp_path_factory):
    """Twenty real edge hosts (netns + sshd) for the fleet test, stopped at the end of the session."""
    hosts, link = _start_hosts(tmp_path_factory, 20, "fleet", netns_only=True)
    yield hosts
    hosts.stop()
    link.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def write_inventory():
    """``write_inventory(hosts, path, host_vars=None)``: a standard INI inventory with group [edge]."""

    def write(hosts: LocalEdgeHosts, path: Path, host_vars: dict | None = None) -> Path:
        return hosts.write_inventory(
            path,
            group="edge",
            python=sys.executable,
            host_vars=host_vars,
            group_vars={"stratum_site_dirs": "[" + ", ".join(site_dirs()) + "]"},
        )

    return write


# ------------------------------------------------------------------ models
@dataclass
class Fitted:
    ref: str
    model: object
    X_test: object


@pytest.fixture(scope="session")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="session")
def deploy_registry(tmp_path_factory, cancer):
    """A registry holding two versions of 'cancer': v1 and v2 predict differently."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from jupyter_stratum.registry import open_registry

    X_train, X_test, y_train, _ = cancer
    reg = open_registry(tmp_path_factory.mktemp("deploy-home"))
    fitted = {}
    for est in (LogisticRegression(C=1.0, max_iter=1000), DecisionTreeClassifier(max_depth=2, random_state=0)):
        model = make_pipeline(StandardScaler(), est).fit(X_train, y_train)
        mv = reg.register("cancer", model, lineage=bundle_lineage(model, X_train, X_test.head(5)))
        fitted[mv.version] = Fitted(mv.ref, model, X_test)
    assert (fitted[1].model.predict(X_test) != fitted[2].model.predict(X_test)).any()
    reg.fitted = fitted
    return reg
