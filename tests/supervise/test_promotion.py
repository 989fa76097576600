"""The whole loop on two real edge hosts (network namespaces + sshd, Ansible over SSH), retraining on a
real Dask cluster: traffic moves to another regime, live accuracy falls; with no manual command the
supervisor detects it, retrains, runs the challenger in shadow on one host, then as a canary on the
other, then on every host through the generated Ansible projects, and live accuracy recovers.
A challenger that is not better is rolled back in shadow and the champion keeps serving everywhere.

The two scenarios share the fleet (deployed once); each runs polls of real traffic until the
supervisor concludes."""

from __future__ import annotations

import json
import sys
import urllib.request

import numpy as np
import pandas as pd
import pytest
from _supervise_scenario import SPEC

from jupyter_stratum.registry import open_registry
from jupyter_stratum.supervise.policy import parse_policy
from jupyter_stratum.supervise.supervisor import Supervisor

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.cluster]

TOKEN = "t0k-fleet"
POLICY = """\
watch: {{every: 1s, window: 60}}
drift: {{features_share: 0.3, for: 1}}
accuracy: {{metric: accuracy, below: 0.8, min_labels: 40}}
retrain: {{data: [{data}]}}
promote: {{shadow: 1 host, canary: 1 host, min_gain: 0.05}}
"""


def regime(rng, n: int, moved: bool) -> pd.DataFrame:
    """Regime A: the label is x0 > 0. Regime B: x1 moves by 3 (drift) and the label is x2 > 0."""
    X = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in range(3)})
    if moved:
        X["x1"] += 3.0
    return X.assign(label=((X["x2"] if moved else X["x0"]) > 0).astype(int))


def call(url: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def traffic(urls: list[str], rows: pd.DataFrame, per_request: int = 10) -> None:
    """Each host answers every row; the labels come back for each request."""
    for url in urls:
        for start in range(0, len(rows), per_request):
            part = rows.iloc[start : start + per_request]
            answer = call(url, "/predict", {"records": part.drop(columns="label").to_dict(orient="records")})
            call(url, "/v2/models/churn/feedback", {"ids": [answer["id"]], "labels": [part["label"].tolist()]})


@pytest.fixture(scope="module")
def fleet(supervised_hosts, tmp_path_factory, client):
    from jupyter_stratum.deploy import deploy
    from jupyter_stratum.training.run import train

    work = tmp_path_factory.mktemp("supervised")
    data = work / "regime-a.csv"
    regime(np.random.default_rng(0), 600, moved=False).to_csv(data, index=False)
    registry = open_registry(work / "registry")
    champion = train(SPEC.format(path=data), "churn", client=client, registry=registry).version
    registry.set_alias("churn", "champion", champion.version, actor="test", reason="first deploy")
    (work / "token").write_text(TOKEN)
    args = (
        "[--drift-window, 60, --drift-check-every, 10, --drift-min-interval-ms, 0, --label-window, 200, "
        f"--capture, 400, --token-file, {work / 'token'}]"
    )
    inventory = supervised_hosts.write_inventory(
        work / "edge.ini",
        python=sys.executable,
        group_vars={"stratum_serve_args": args, "stratum_site_dirs": "[" + ", ".join(_site_dirs()) + "]"},
    )
    result = deploy(champion.ref, inventory, registry=registry)
    assert result.ok, result.to_text()
    return registry, inventory, {h.name: h.url for h in supervised_hosts.hosts}


def _site_dirs() -> list[str]:
    import site
    from pathlib import Path

    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def run_until_concluded(registry, inventory, urls, policy, client, seed: int, polls: int = 8):
    """Polls with 60 rows of regime B on each host before each, until a promotion or a rejection."""
    from jupyter_stratum.testing import served_version

    rng = np.random.default_rng(seed)
    start = registry.events("churn")[-1].id
    supervisor = Supervisor(
        registry, "churn", parse_policy(policy), [], dry_run=False, token=TOKEN, client=client, inventory=inventory
    )
    seen = []
    for _ in range(polls):
        traffic(list(urls.values()), regime(rng, 60, moved=True))
        _, decision = supervisor.run_once()
        shadows = {h: _json(u + "/v2/models/churn/shadow").get("version") for h, u in urls.items()}
        seen.append((decision.action, {h: served_version(u) for h, u in urls.items()}, shadows))
        kinds = {e.kind for e in registry.events("churn", after_id=start)}
        if kinds & {"supervise_promoted", "supervise_rejected"}:
            return registry.events("churn", after_id=start), seen
    raise AssertionError(f"the supervisor did not conclude in {polls} polls: {seen}")


def _json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def stages_of(events) -> list[tuple[str, str]]:
    return [(e.details["stage"], e.details["status"]) for e in events if e.kind == "supervise_stage"]


def test_a_challenger_not_better_is_rolled_back_in_shadow(fleet, client):
    from jupyter_stratum.testing import served_version

    registry, inventory, urls = fleet
    # retrained on the old regime only: no better on the traffic the hosts see now
    events, seen = run_until_concluded(registry, inventory, urls, POLICY.format(data="training"), client, seed=1)
    kinds = [e.kind for e in events]
    assert "supervise_retrained" in kinds and kinds[-1] == "supervise_rejected", kinds
    assert stages_of(events) == [("shadow", "started"), ("shadow", "failed")], stages_of(events)
    shadow = next(e for e in events if e.kind == "supervise_stage" and e.details["status"] == "failed")
    assert shadow.details["rolled_back"] and shadow.details["hosts"] == ["edge1"]
    assert shadow.details["figures"]["gain"] < 0.05 and shadow.details["figures"]["labelled"] >= 40
    # in shadow, edge1 answered with the champion while the challenger scored beside it; then it went back
    challenger = events[-1].version
    assert ("shadow", {"edge1": "1", "edge2": "1"}, {"edge1": str(challenger), "edge2": None}) in seen, seen
    assert seen[-1] == ("reject", {"edge1": "1", "edge2": "1"}, {"edge1": None, "edge2": None}), seen
    assert {h: served_version(u) for h, u in urls.items()} == {"edge1": "1", "edge2": "1"}
    assert {a.alias: a.version for a in registry.aliases("churn")} == {"champion": 1}


def test_drift_retrain_shadow_canary_promote_and_accuracy_recovers(fleet, client):
    from jupyter_stratum.testing import served_version

    registry, inventory, urls = fleet
    events, seen = run_until_concluded(registry, inventory, urls, POLICY.format(data="captured"), client, seed=2)
    kinds = [e.kind for e in events]
    assert kinds[-1] == "supervise_promoted", kinds
    challenger = events[-1].version
    assert stages_of(events) == [
        ("shadow", "started"),
        ("shadow", "passed"),
        ("canary", "started"),
        ("canary", "passed"),
        ("all", "passed"),
    ]
    stage = {(e.details["stage"], e.details["status"]): e for e in events if e.kind == "supervise_stage"}
    assert stage[("shadow", "started")].details["hosts"] == ["edge1"]
    assert stage[("canary", "started")].details["hosts"] == ["edge2"]
    assert stage[("shadow", "passed")].details["figures"]["gain"] >= 0.05
    assert stage[("canary", "passed")].details["figures"]["gain"] >= 0
    # the story in order: observed drift and falling accuracy -> retrain -> stages -> promoted
    decided = next(e for e in events if e.kind == "supervise_decision")
    assert decided.details["action"] == "retrain" and any("features drifted" in r for r in decided.details["reasons"])
    assert any("live accuracy" in r for r in decided.details["reasons"])
    retrained = next(e for e in events if e.kind == "supervise_retrained")
    assert retrained.version == challenger and registry.get(f"churn@{challenger}").extra["parent"]["version"] == 1
    # the canary served the challenger on edge2 only
    assert ("shadow", {"edge1": "1", "edge2": "1"}, {"edge1": str(challenger), "edge2": None}) in seen, seen
    assert ("canary", {"edge1": "1", "edge2": str(challenger)}, {"edge1": None, "edge2": None}) in seen, seen
    assert {h: served_version(u) for h, u in urls.items()} == {"edge1": str(challenger), "edge2": str(challenger)}
    assert {a.alias: a.version for a in registry.aliases("churn")} == {"champion": challenger}
    # live accuracy recovers on every host (the runtime's own figure, over fresh labelled rows)
    traffic(list(urls.values()), regime(np.random.default_rng(3), 100, moved=True))
    for url in urls.values():
        drift = _json(url + "/v2/models/churn/drift")
        assert drift["live"]["labelled_rows"] >= 100 and drift["live"]["value"] >= 0.9, drift["live"]
