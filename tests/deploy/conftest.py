"""Fixtures for the deploy tests: real edge hosts, a real registry, real bundles.

Edge hosts are network namespaces, each running its own sshd (see
jupyter_stratum.deploy.sandbox and ../shared/TESTING.md): Ansible reaches them over
real SSH at 10.77.N.2, and the model services run inside them. Where namespaces
can't be made but root can run sshd, hosts fall back to sshd on 127.0.0.N ports;
otherwise the tests skip and say why. Every namespace and process started here is
stopped by the fixtures' finalizers (and a crashed run's leftovers at the next start).
"""

from __future__ import annotations

import json
import os
import site
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from jupyter_stratum.deploy.sandbox import LocalEdgeHosts, cleanup_stale, loopback_support, sandbox_support

STALE_DIR = Path("/tmp/stratum-test-edge-hosts")


def edge_mode() -> tuple[str | None, str]:
    ok, why = sandbox_support()
    if ok:
        return "netns", ""
    ok2, why2 = loopback_support()
    if ok2:
        return "loopback", ""
    return None, f"no edge hosts can be made here: {why}; loopback fallback: {why2}"


def site_dirs() -> list[str]:
    """This interpreter's package directories: edge hosts share this machine's disk, so
    their environments reuse the exact library versions the bundle pins (pip checks them)."""
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


@pytest.fixture(scope="session")
def edge_hosts(tmp_path_factory):
    """Three real edge hosts (netns + sshd), stopped at the end of the session."""
    mode, why = edge_mode()
    if mode is None:
        pytest.skip(why)
    # a crashed earlier run may have left hosts behind (a concurrent session's are kept)
    STALE_DIR.mkdir(exist_ok=True)
    for link in list(STALE_DIR.iterdir()):
        if cleanup_stale(link, only_dead_owner=True) or not (link / "state.json").exists():
            link.unlink(missing_ok=True)
    work = Path(tmp_path_factory.mktemp("edge"))
    link = STALE_DIR / f"{os.getpid()}-{work.name}"
    link.unlink(missing_ok=True)
    link.symlink_to(work)
    hosts = LocalEdgeHosts(3, work, mode=mode)
    try:
        hosts.start()
    except Exception as exc:  # pragma: no cover - environment specific
        hosts.stop()
        pytest.skip(f"edge hosts could not be started: {exc}")
    yield hosts
    hosts.stop()
    link.unlink(missing_ok=True)


def write_inventory(hosts: LocalEdgeHosts, path: Path, host_vars: dict | None = None) -> Path:
    """A standard INI inventory with group [edge]."""
    return hosts.write_inventory(
        path,
        group="edge",
        python=sys.executable,
        host_vars=host_vars,
        group_vars={"stratum_site_dirs": "[" + ", ".join(site_dirs()) + "]"},
    )


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


def lineage_of(model, X_train, X_test) -> dict:
    sample = X_test.head(5)
    return {
        "task": "classification",
        "metric": "accuracy",
        "input_schema": {"columns": [{"name": str(c), "dtype": str(t)} for c, t in X_train.dtypes.items()]},
        "classes": [int(c) for c in model.classes_],
        "sample": {
            "records": json.loads(sample.to_json(orient="records")),
            "expected": np.asarray(model.predict(sample)).tolist(),
        },
    }


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
        mv = reg.register("cancer", model, lineage=lineage_of(model, X_train, X_test))
        fitted[mv.version] = Fitted(mv.ref, model, X_test)
    assert (fitted[1].model.predict(X_test) != fitted[2].model.predict(X_test)).any()
    reg.fitted = fitted
    return reg


# ------------------------------------------------------------------ HTTP helpers
def http_json(url: str, body: dict | None = None, timeout: float = 10.0) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def predict(url: str, X) -> list:
    return http_json(url + "/predict", {"records": json.loads(X.to_json(orient="records"))})["predictions"]


def served_version(url: str) -> str:
    """The model version the runtime at ``url`` says it serves (Prometheus model info)."""
    from jupyter_stratum.monitor.metrics import scrape

    s = scrape("h", url)
    assert s.up, s.error
    return s.model.split("@")[-1]


def port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def wait_closed(address: str, port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(address, port):
            return True
        time.sleep(0.2)
    return False
