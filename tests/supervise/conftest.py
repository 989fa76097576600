"""Fixtures: a real registry, a real bundle with reference statistics, real runtime processes
(the server helpers of tests/_helpers.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _helpers import (  # noqa: F401 - fixtures, found by pytest by name
    bundles,
    lineage_of,
    mixed,
    serve,
)


@dataclass
class DriftBundle:
    path: object
    model: object
    reference: object
    registry: object

    def __iter__(self):  # bundle, model, reference = drift_bundle
        return iter((self.path, self.model, self.reference))


@pytest.fixture(scope="session")
def drift_bundle(tmp_path_factory, mixed):  # noqa: F811 - the fixture imported above
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.supervise.reference import reference_statistics

    X_train, X_test, y_train, y_test = mixed
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "visits", "spend"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(X_train, y_train)
    reference = reference_statistics(X_train, model.predict(X_test), task="classification")
    lineage = {**lineage_of(model, X_train, X_test, "classification", ["churn", "stay"]), "reference": reference}
    registry = open_registry(tmp_path_factory.mktemp("supervise-registry"))
    mv = registry.register("churn", model, lineage=lineage)
    bundle = build_bundle(mv.ref, tmp_path_factory.mktemp("bundles") / "churn-1", registry=registry, force=True)
    return DriftBundle(bundle.path, model, reference, registry)


@pytest.fixture(scope="module")
def supervised_hosts(tmp_path_factory):
    """Two real edge hosts (network namespaces + sshd; see jupyter_stratum.testing.edge_hosts), stopped
    at the end of the module. The harness picks free subnets per pid, so concurrent runs do not collide."""
    import os
    from pathlib import Path

    from jupyter_stratum.testing import LocalEdgeHosts, cleanup_stale, edge_mode

    mode, why = edge_mode()
    if mode is None:
        pytest.skip(why)
    stale = Path("/tmp/stratum-test-edge-hosts")  # the deploy tests' folder: a crashed run's hosts are stopped
    stale.mkdir(exist_ok=True)
    for link in list(stale.iterdir()):
        if cleanup_stale(link, only_dead_owner=True) or not (link / "state.json").exists():
            link.unlink(missing_ok=True)
    work = Path(tmp_path_factory.mktemp("supervised-edge"))
    link = stale / f"{os.getpid()}-{work.name}"
    link.unlink(missing_ok=True)
    link.symlink_to(work)
    hosts = LocalEdgeHosts(2, work, mode=mode)
    try:
        hosts.start()
    except Exception as exc:  # pragma: no cover - environment specific
        hosts.stop()
        pytest.skip(f"edge hosts could not be started: {exc}")
    yield hosts
    hosts.stop()
    link.unlink(missing_ok=True)
