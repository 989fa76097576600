"""Retraining on a real Dask cluster: the version's own spec on its data plus labelled captured rows,
registered with parent and reason; a failed retrain registers nothing."""

from __future__ import annotations

import pandas as pd
import pytest
from _supervise_scenario import NUMERIC, drifted_traffic_with_labels, train_parent

from jupyter_stratum.errors import DataError, SuperviseError
from jupyter_stratum.supervise.retrain import retrain_version


def test_retrain_registers_a_child_version(client, mixed, tmp_path):
    X_train, X_test, y_train, y_test = mixed
    registry, parent = train_parent(client, mixed, tmp_path)
    captured = X_test[NUMERIC].head(40).assign(label=y_test.head(40).values).reset_index(drop=True)

    child = retrain_version(registry, parent, captured, reason={"event": 7, "why": "drift"}, client=client)
    assert child.version == parent.version + 1
    assert child.extra["parent"] == {"version": parent.version, "ref": parent.ref}
    assert child.extra["retrain"]["event"] == 7 and child.extra["retrain"]["captured_rows"] == 40
    trained_on = pd.read_parquet(child.extra["retrain"]["data"])
    assert len(trained_on) == len(X_train) + 40 and child.data_fingerprint != parent.data_fingerprint

    bad = captured.assign(label=None)  # missing labels: training refuses, nothing is registered
    with pytest.raises(DataError, match="missing"):
        retrain_version(registry, child, bad, reason={"event": 8}, client=client)
    assert [v.version for v in registry.versions("churn")] == [parent.version, child.version]
    assert sorted(p.name for p in (registry.root / "supervise" / "churn").iterdir()) == ["retrain-from-1-7.parquet"]


def test_supervisor_retrains_from_a_served_runtime(client, mixed, serve, tmp_path):
    from _helpers import records_of

    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.supervise.policy import parse_policy
    from jupyter_stratum.supervise.supervisor import Supervisor, approve

    X_train, X_test, y_train, y_test = mixed
    registry, parent = train_parent(client, mixed, tmp_path)
    bundle = build_bundle(parent.ref, tmp_path / "bundle", registry=registry, force=True)
    token = "t0k-retrain"
    server = serve(
        bundle.path,
        *("--drift-window", "60", "--drift-check-every", "10", "--drift-min-interval-ms", "0"),
        *("--capture", "200", "--capture-dir", str(tmp_path / "capture")),
        token=token,
    )
    assert set(drifted_traffic_with_labels(server, mixed)) == {200}
    policy = parse_policy("drift: {features_share: 0.3, for: 1}\n")
    wrong = Supervisor(registry, "churn", policy, [(server.url, server.url)], dry_run=False, token="nope")
    _, decision = wrong.run_once()  # the capture is refused: an event, nothing registered
    assert decision.action == "retrain" and not decision.acted
    assert registry.events("churn")[-1].kind == "supervise_retrain_failed" and len(registry.versions("churn")) == 1
    assert registry.aliases("churn") == []

    supervisor = Supervisor(
        registry, "churn", policy, [(server.url, server.url)], dry_run=False, token=token, client=client
    )
    _, decision = supervisor.run_once()
    assert decision.acted
    child = registry.get("churn@challenger")
    assert child.version == 2 and child.extra["parent"]["version"] == 1
    assert child.extra["retrain"]["captured_rows"] == 60
    events = registry.events("churn")
    kinds = [e.kind for e in events]
    decided = len(kinds) - 1 - kinds[::-1].index("supervise_decision")
    assert kinds[decided:] == ["supervise_decision", "registered", "alias_set", "supervise_retrained"], kinds
    assert events[-1].details["decision"] == child.extra["retrain"]["event"]

    # the challenger in shadow: it scores every request, the champion answers; metrics equal scikit-learn's
    from sklearn.metrics import accuracy_score

    child_bundle = build_bundle(child.ref, tmp_path / "bundle-2", registry=registry, force=True)
    host = serve(bundle.path, "--shadow", str(child_bundle.path), token=token)
    rows = X_test[NUMERIC].iloc[60:120]
    labels = list(y_test.iloc[60:120])
    for start in range(0, 60, 6):
        status, answer, _ = host.post("/predict", {"records": records_of(rows.iloc[start : start + 6])})
        assert answer["predictions"] == list(registry.load(parent.ref).predict(rows.iloc[start : start + 6]))
        host.post("/v2/models/churn/feedback", {"ids": [answer["id"]], "labels": [labels[start : start + 6]]})
    status, body, _ = host.get("/v2/models/churn/shadow")
    champion_pred = registry.load(parent.ref).predict(rows)
    shadow_pred = registry.load(child.ref).predict(rows)
    assert status == 200 and body["version"] == str(child.version) and body["rows"] == 60
    assert body["labelled_rows"] == 60 and body["agreement"] == pytest.approx((champion_pred == shadow_pred).mean())
    assert body["champion_value"] == pytest.approx(accuracy_score(labels, champion_pred), abs=1e-12)
    assert body["shadow_value"] == pytest.approx(accuracy_score(labels, shadow_pred), abs=1e-12)
    metrics = host.metrics()
    assert metrics['stratum_shadow_metric{metric="accuracy",model="shadow"}'] == pytest.approx(body["shadow_value"])
    assert metrics[f'stratum_shadow_info{{version="{child.version}"}}'] == 1

    # promotion: a challenger not better by min_gain is rejected (dry run: decided, nothing moved) ...
    hosts = [(host.url, host.url)]
    strict = parse_policy("promote: {min_gain: 1.0}\n")
    _, decision = Supervisor(registry, "churn", strict, hosts, dry_run=True).run_once()
    assert decision.action == "reject" and "over 60 labelled rows" in decision.reasons[0]
    # ... and with approve: manual a better one waits for `approve`, which moves champion
    manual = parse_policy("promote: {min_gain: -1.0}\napprove: manual\naccuracy: {min_labels: 60}\n")
    _, decision = Supervisor(registry, "churn", manual, hosts, dry_run=False).run_once()
    assert (
        decision.action == "promote"
        and decision.acted
        and registry.events("churn")[-1].kind == ("supervise_approval_pending")
    )
    assert "champion" not in {a.alias for a in registry.aliases("churn")}
    _, decision = Supervisor(registry, "churn", manual, hosts, dry_run=False).run_once()
    assert decision.action == "await_approval"
    from jupyter_stratum.cli import main

    assert main(["supervise", "churn", "--approve", "--home", str(registry.root)]) == 0
    assert {a.alias: a.version for a in registry.aliases("churn")} == {"champion": child.version}
    assert registry.events("churn")[-1].kind == "supervise_promoted"
    with pytest.raises(SuperviseError, match="waits for approval"):
        approve(registry, "churn")
