"""The supervisor skeleton: policy errors name line and field; `stratum supervise --once --dry-run`
polls a real runtime, applies the policy (drift for N polls running) and writes events."""

from __future__ import annotations

import pytest
from _helpers import records_of

from jupyter_stratum.cli import main
from jupyter_stratum.errors import SuperviseError
from jupyter_stratum.supervise.policy import parse_policy

POLICY = """\
watch: {every: 30s, window: 500}
drift: {features_share: 0.3, for: 2}
accuracy: {metric: accuracy, below: 0.9}
retrain: {data: [training, captured]}
promote: {shadow: 1 host, canary: 1 host, min_gain: 0.01, then: all}
"""


def test_policy_parses_and_errors_name_line_and_field():
    policy = parse_policy(POLICY)
    assert policy.watch.every == 30 and policy.drift.for_ == 2 and policy.promote.shadow == 1
    assert policy.accuracy.below == 0.9 and policy.approve == "auto"
    cases = {
        "watch: {every: 30x}\n": "line 1, watch.every: '30x' is not a duration",
        "watch: {}\ndrift:\n  features_share: 3\n": "line 3, drift.features_share: Input should be less than or equal to 1",
        "drift: {share: 1}\n": "line 1, drift.share: unknown field; the fields here are features_share, for",
        "promote:\n  canary: some\n": "line 2, promote.canary: 'some': write a number of hosts",
        "approve: maybe\n": "line 1, approve: Input should be 'auto' or 'manual'",
        "drift: [1\n": "line 2: not valid YAML",
    }
    for text, expected in cases.items():
        with pytest.raises(SuperviseError) as info:
            parse_policy(text, source="p.yaml")
        assert f"p.yaml {expected}" in str(info.value), str(info.value)


def test_supervise_once_dry_run_records_observations_and_decision(drift_bundle, mixed, serve, tmp_path, capsys):
    _, X_test, _, _ = mixed
    server = serve(drift_bundle.path, "--drift-window", "60", "--drift-check-every", "10")
    home = str(drift_bundle.registry.root)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    cmd = ["supervise", "churn", "--policy", str(policy), "--once", "--dry-run", "--host", server.url, "--home", home]
    before = drift_bundle.registry.events("churn")[-1].id
    status, body, _ = server.get("/v2/models/churn/capture")  # no token, no capture over HTTP
    assert status == 403 and "--token-file" in body["error"]
    status, answer, _ = server.post("/predict", {"records": records_of(X_test.iloc[:2])})
    status, body, _ = server.post("/v2/models/churn/feedback", {"ids": [answer["id"]], "labels": [[0, 1]]})
    assert status == 403 and "--token-file" in body["error"]  # nor labels from anyone: they feed retraining

    for start in range(0, 60, 5):  # in distribution
        server.post("/predict", {"records": records_of(X_test.iloc[start : start + 5])})
    assert main(cmd) == 0
    assert "no action (drift streak 0)" in capsys.readouterr().out

    shifted = X_test.iloc[:60].copy()
    shifted["age"] += 40
    shifted["plan"] = "pro"
    for start in range(0, 60, 5):
        server.post("/predict", {"records": records_of(shifted.iloc[start : start + 5])})
    assert main(cmd) == 0  # drifting, first poll of two
    assert "no action (drift streak 1)" in capsys.readouterr().out
    assert main(cmd) == 0  # second poll running: the policy's `for: 2`
    out = capsys.readouterr().out
    assert "retrain (dry run: nothing done)" in out and "2/4 features drifted (age, plan) for 2 polls" in out

    events = drift_bundle.registry.events("churn", after_id=before)
    assert [e.kind for e in events] == ["supervise_observed"] * 3 + ["supervise_decision"]
    assert [e.details["drift_streak"] for e in events[:3]] == [0, 1, 2]
    assert events[0].details["hosts"][0]["url"] == server.url and events[1].details["hosts"][0]["detected"] is True
    assert events[3].details == {
        "action": "retrain",
        "reasons": events[3].details["reasons"],
        "dry_run": True,
        "acted": False,
    }

    # the panel's data is read from these events: drift scores per feature as the runtime gave them
    from jupyter_stratum.supervise.panel import SupervisePanel, timeline

    t = timeline(events)
    status, body, _ = server.get("/v2/models/churn/drift")
    assert t.polls == 3 and [len(t.drift[f["feature"]][1]) for f in body["features"]] == [3] * 4
    assert {f["feature"]: t.drift[f["feature"]][1][-1] for f in body["features"]} == {
        f["feature"]: f["score"] for f in body["features"]
    }
    assert t.drift["age"][1][0] < 1 <= t.drift["age"][1][-1]
    assert [(r.kind, r.text.split(":")[0]) for r in t.story] == [("decision", "retrain (dry run)")]
    panel = SupervisePanel(drift_bundle.registry, "churn")
    assert sorted(panel.drift_source.data["name"]) == ["age", "plan", "spend", "visits"]
    assert "retrain (dry run)" in panel.story.text and not panel.running
