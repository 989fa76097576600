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
