"""What the promote stages deploy: the shadow bundle (the champion's with the challenger's inside, both
checked by the runtime's own loader) and the stage inventory (serve arguments added per host, nothing
of the user's inventory copied)."""

from __future__ import annotations

import json
import shutil

import pytest

from jupyter_stratum.deploy.inventory import read_inventory
from jupyter_stratum.deploy.project import release_id
from jupyter_stratum.serve.errors import BundleLoadError
from jupyter_stratum.serve.model_loader import load_bundle
from jupyter_stratum.supervise.stages import serve_args_of, shadow_bundle, stage_hosts, stage_inventory


def test_shadow_bundle_is_checked_and_loads_both_models(drift_bundle, tmp_path):
    champion = drift_bundle.path
    challenger = tmp_path / "challenger"
    shutil.copytree(champion, challenger)  # a second bundle of the same columns stands in for version 2
    out = shadow_bundle(champion, challenger, tmp_path / "composite", challenger_version=2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shadow"] == {"path": "shadow", "version": 2}
    assert release_id(out)[0] != release_id(champion)[0]  # a release of its own on the host
    assert {k for k in manifest["files"] if k.startswith("shadow/")} >= {"shadow/manifest.json"}
    assert load_bundle(str(out)).version == load_bundle(str(champion)).version
    assert load_bundle(str(out / "shadow")).name == "churn"
    # a damaged shadow file fails the champion's own check, as any file of the release would
    target = next(k for k in manifest["files"] if k.startswith("shadow/") and k != "shadow/manifest.json")
    (out / target).write_bytes((out / target).read_bytes() + b"x")
    with pytest.raises(BundleLoadError):
        load_bundle(str(out))


def test_stage_inventory_adds_serve_arguments_to_named_hosts_only(tmp_path):
    inventory = tmp_path / "fleet.ini"
    inventory.write_text(
        "[edge]\n"
        "edge1 ansible_host=10.0.0.1 stratum_serve_args='--drift-window 60' ansible_become_password=s3cr3t\n"
        "edge2 ansible_host=10.0.0.2\n"
        "[edge:vars]\nstratum_port=8600\n"
    )
    folder = stage_inventory(inventory, {"edge1": ["--shadow", "shadow"]}, tmp_path / "stage")
    hosts = read_inventory(folder)
    assert serve_args_of(hosts.host("edge1").vars["stratum_serve_args"]) == [
        "--drift-window",
        "60",
        "--shadow",
        "shadow",
    ]
    assert "stratum_serve_args" not in hosts.host("edge2").vars and hosts.host("edge2").serve_port == 8600
    written = "".join(p.read_text() for p in (folder / "host_vars").iterdir())
    assert "s3cr3t" not in written and "10.0.0.1" not in written
    assert serve_args_of("[--a, 1]") == ["--a", "1"] and serve_args_of(None) == []
    assert stage_hosts(["a", "b", "c"], 1, 1) == (["a"], ["b"]) and stage_hosts(["a"], 1, 1) == (["a"], ["a"])


def test_approve_lets_a_staged_promotion_go_on(tmp_path):
    """approve: manual with stages: `stratum supervise NAME --approve` records the approval (the supervisor
    then starts the canary); it moves no alias itself, and there is nothing to approve twice."""
    from sklearn.dummy import DummyClassifier

    from jupyter_stratum.cli import main
    from jupyter_stratum.errors import SuperviseError
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.supervise.supervisor import PENDING_APPROVAL, approve

    registry = open_registry(tmp_path / "registry")
    for _ in range(2):
        registry.register("churn", DummyClassifier().fit([[0], [1]], [0, 1]), lineage={})
    registry.set_alias("churn", "champion", 1, actor="test")
    registry.set_alias("churn", "challenger", 2, actor="test")
    registry.add_event(
        "churn", PENDING_APPROVAL, version=2, actor="supervisor", details={"decision": 7, "staged": True}
    )
    assert main(["supervise", "churn", "--approve", "--home", str(registry.root)]) == 0
    last = registry.events("churn")[-1]
    assert (last.kind, last.version, last.details["decision"]) == ("supervise_approved", 2, 7)
    assert {a.alias: a.version for a in registry.aliases("churn")} == {"champion": 1, "challenger": 2}
    with pytest.raises(SuperviseError, match="waits for approval"):
        approve(registry, "churn")


# -- promote: {shadow: 0} / {canary: 0} skip that stage (issue 13) ----------------------------------------------


def test_zero_hosts_skip_a_stage_and_bad_counts_name_line_and_field():
    from jupyter_stratum.errors import SuperviseError
    from jupyter_stratum.supervise.policy import parse_policy

    assert parse_policy("promote: {shadow: 0}\n").promote.shadow == 0
    assert parse_policy("promote: {canary: 0 hosts, shadow: '2'}\n").promote.model_dump(
        include={"shadow", "canary"}
    ) == {
        "shadow": 2,
        "canary": 0,
    }
    cases = {
        "promote:\n  shadow: -1\n": "line 2, promote.shadow: -1 is negative: write a number of hosts",
        "promote:\n  min_gain: 0.1\n  canary: 1.5\n": "line 3, promote.canary: 1.5 is not a whole number",
        "promote: {canary: -2 hosts}\n": "line 1, promote.canary: '-2 hosts' is negative",
        "promote: {shadow: true}\n": "line 1, promote.shadow: True is not a whole number",
    }
    for text, expected in cases.items():
        with pytest.raises(SuperviseError) as info:
            parse_policy(text, source="p.yaml")
        assert f"p.yaml {expected}" in str(info.value), str(info.value)
        assert "0 skips the" in str(info.value)
    assert stage_hosts(["a", "b"], 0, 1) == ([], ["a"]) and stage_hosts(["a", "b"], 1, 0) == (["a"], [])
    assert stage_hosts(["a", "b"], 0, 0) == ([], [])


@pytest.fixture
def staged(tmp_path):
    """A registry with champion 1 and challenger 2 of churn, an inventory of three hosts, and a supervisor
    for a policy text (nothing is deployed: these tests stop at the decisions that need no host)."""
    from sklearn.dummy import DummyClassifier

    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.supervise.policy import parse_policy
    from jupyter_stratum.supervise.supervisor import Supervisor

    registry = open_registry(tmp_path / "registry")
    for _ in range(2):
        registry.register("churn", DummyClassifier().fit([[0], [1]], [0, 1]), lineage={})
    registry.set_alias("churn", "champion", 1, actor="test")
    registry.set_alias("churn", "challenger", 2, actor="test")
    inventory = tmp_path / "fleet.ini"
    inventory.write_text("[edge]\n" + "".join(f"edge{i} ansible_host=10.0.0.{i}\n" for i in (1, 2, 3)))

    def make(policy: str):
        sup = Supervisor(registry, "churn", parse_policy(policy), [], inventory=inventory, dry_run=False)
        return sup, sup.promotion_stages()

    return registry, make


def _stages(registry) -> list[tuple[str, str, list[str]]]:
    from jupyter_stratum.supervise.promotion import STAGE

    return [
        (e.details["stage"], e.details["status"], e.details["hosts"]) for e in registry.events("churn", kinds=(STAGE,))
    ]


def test_shadow_0_starts_with_the_canary(staged):
    registry, make = staged
    _, promotion = make("promote: {shadow: 0, canary: 1}\n")
    assert promotion.split() == ([], ["edge1"])
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage[:2]) == ("canary", ("canary", ["edge1"]))
    assert "no shadow stage (promote.shadow: 0)" in decision.reasons[0]
    # before the canary deploys, the skipped shadow is an event of its own
    promotion.close_shadow(2, registry.events("churn")[-1], {})
    assert _stages(registry) == [("shadow", "skipped", [])]


def test_shadow_0_with_manual_approval_waits_then_starts_the_canary(staged):
    from jupyter_stratum.supervise.supervisor import PENDING_APPROVAL, approve

    registry, make = staged
    _, promotion = make("promote: {shadow: 0 hosts, canary: 2 hosts}\napprove: manual\n")
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage) == ("promote", ("approval", [], {}))
    event = registry.events("churn")[-1]
    promotion.act(event, decision)  # nothing to roll back: no shadow host
    assert _stages(registry) == [("shadow", "skipped", [])]
    assert registry.events("churn", kinds=(PENDING_APPROVAL,))[-1].version == 2
    assert promotion.advance(2, 1, []).action == "await_approval"
    assert approve(registry, "churn", actor="test") == 2
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage[:2]) == ("canary", ("canary", ["edge1", "edge2"]))


def test_canary_0_goes_from_an_approved_shadow_to_every_host(staged):
    from jupyter_stratum.supervise.promotion import STAGE
    from jupyter_stratum.supervise.supervisor import PENDING_APPROVAL, approve

    registry, make = staged
    _, promotion = make("promote: {shadow: 1, canary: 0}\napprove: manual\n")
    assert promotion.split() == (["edge1"], [])
    registry.add_event(
        "churn",
        STAGE,
        version=2,
        actor="supervisor",
        details={"stage": "shadow", "status": "passed", "hosts": ["edge1"]},
    )
    registry.add_event(
        "churn", PENDING_APPROVAL, version=2, actor="supervisor", details={"decision": 1, "staged": True}
    )
    approve(registry, "churn", actor="test")
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage[:2]) == ("promote", ("all", ["edge1", "edge2", "edge3"]))
    assert "no canary stage (promote.canary: 0)" in decision.reasons[-1]


def test_shadow_0_and_canary_0_promote_to_every_host_at_once(staged):
    _, make = staged
    _, promotion = make("promote: {shadow: 0, canary: 0}\n")
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage[:2]) == ("promote", ("all", ["edge1", "edge2", "edge3"]))
    # with the defaults the shadow host is still the first one
    _, default = make("promote: {}\n")
    assert default.split() == (["edge1"], ["edge2"]) and default.advance(2, 1, []).action == "shadow"


def _live(host: str, version: str, value: float, rows: int = 100):
    from jupyter_stratum.supervise.supervisor import HostObservation

    return HostObservation(
        host, f"http://{host}", True, version=version, live_metric="accuracy", live_value=value, labelled_rows=rows
    )


@pytest.mark.parametrize(
    ("policy", "canary_value", "action"),
    [
        # after a passed shadow the canary only has to be no worse than the champion's hosts
        ("promote: {shadow: 1, canary: 1, min_gain: 0.01}\n", 0.90, "promote"),
        ("promote: {shadow: 1, canary: 1, min_gain: 0.01}\n", 0.89, "reject"),
        # with no shadow stage the canary is the one live comparison: it must gain min_gain
        ("promote: {shadow: 0, canary: 1, min_gain: 0.01}\n", 0.905, "reject"),
        ("promote: {shadow: 0, canary: 1, min_gain: 0.01}\n", 0.92, "promote"),
    ],
)
def test_canary_gate_against_the_champions_hosts(staged, policy, canary_value, action):
    from jupyter_stratum.supervise.promotion import STAGE

    registry, make = staged
    _, promotion = make(policy)
    shadow_hosts, canary_hosts = promotion.split()
    shadow = {"stage": "shadow", "hosts": shadow_hosts}
    shadow |= (
        {"status": "passed", "figures": {"champion": 0.9, "labelled": 80}} if shadow_hosts else {"status": "skipped"}
    )
    registry.add_event("churn", STAGE, version=2, actor="supervisor", details=shadow)
    registry.add_event(
        "churn",
        STAGE,
        version=2,
        actor="supervisor",
        details={"stage": "canary", "status": "started", "hosts": canary_hosts},
    )
    champions = [h for h in ("edge1", "edge2", "edge3") if h not in canary_hosts]
    observations = [_live(h, "2", canary_value) for h in canary_hosts] + [_live(h, "1", 0.90) for h in champions]
    # too few labels on the canary: wait
    assert (
        promotion.advance(2, 1, [_live(h, "2", canary_value, rows=10) for h in canary_hosts]).action == "await_canary"
    )
    decision = promotion.advance(2, 1, observations)
    assert decision.action == action, decision.reasons
    kind, hosts, figures = decision.stage
    assert figures["champion"] == pytest.approx(0.90) and figures["gain"] == pytest.approx(canary_value - 0.90)
    assert (kind, hosts) == (("all", ["edge1", "edge2", "edge3"]) if action == "promote" else ("canary", canary_hosts))


HOSTS = ["edge1", "edge2", "edge3"]


def _stage_event(registry, stage: str, status: str, hosts: list[str]):
    from jupyter_stratum.supervise.promotion import STAGE

    details = {"stage": stage, "status": status, "hosts": hosts, "figures": {"champion": 0.9, "labelled": 80}}
    return registry.add_event("churn", STAGE, version=2, actor="supervisor", details=details)


@pytest.mark.parametrize(
    ("recorded", "action", "stage"),
    [
        # killed after the shadow went back and was recorded, before the canary's event: the canary again
        ([("shadow", "started", ["edge1"]), ("shadow", "passed", ["edge1"])], "canary", ("canary", ["edge2"])),
        # killed after the canary passed, before the rollout's event: every host
        ([("shadow", "passed", ["edge1"]), ("canary", "passed", ["edge2"])], "promote", ("all", HOSTS)),
        ([("shadow", "skipped", []), ("canary", "skipped", [])], "promote", ("all", HOSTS)),
    ],
)
def test_a_restarted_supervisor_goes_on_with_the_next_stage(staged, recorded, action, stage):
    registry, make = staged
    _, promotion = make("promote: {shadow: 1, canary: 1}\n")
    for step in recorded:
        _stage_event(registry, *step)
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage[:2]) == (action, stage), decision.reasons


@pytest.mark.parametrize(
    ("last", "action", "champion", "outcome"),
    [
        (("all", "passed", HOSTS), "promote", 2, "supervise_promoted"),  # killed before the aliases moved
        (("canary", "failed", ["edge2"]), "reject", 1, "supervise_rejected"),  # before the rejection's event
        (("shadow", "failed", ["edge1"]), "reject", 1, "supervise_rejected"),
    ],
)
def test_a_restarted_supervisor_finishes_a_recorded_stage_without_deploying(staged, last, action, champion, outcome):
    from jupyter_stratum.supervise.supervisor import DECIDED

    registry, make = staged
    sup, promotion = make("promote: {shadow: 1, canary: 1}\n")
    _stage_event(registry, *last)
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage[:2]) == (action, ("finish", [])), decision.reasons
    before = _stages(registry)
    promotion.deploy = promotion.rollback = None  # finishing touches no host: calling either would raise
    sup.act_on_stage(registry.add_event("churn", DECIDED, actor="test", details={}), decision)
    aliases = {a.alias: a.version for a in registry.aliases("churn")}
    assert aliases == {"champion": champion}
    assert registry.events("churn")[-1].kind == outcome and _stages(registry) == before
    assert sup.staged([]) is None  # nothing left to do for version 2


def test_a_restarted_supervisor_asks_for_approval_once(staged):
    from jupyter_stratum.supervise.supervisor import DECIDED, PENDING_APPROVAL

    registry, make = staged
    _, promotion = make("promote: {shadow: 1, canary: 1}\napprove: manual\n")
    _stage_event(registry, "shadow", "passed", ["edge1"])  # killed before the request for approval
    decision = promotion.advance(2, 1, [])
    assert (decision.action, decision.stage) == ("promote", ("approval", [], {"champion": 0.9, "labelled": 80}))
    promotion.act(registry.add_event("churn", DECIDED, actor="test", details={}), decision)
    assert _stages(registry) == [("shadow", "passed", ["edge1"])]  # not recorded twice
    assert [e.version for e in registry.events("churn", kinds=(PENDING_APPROVAL,))] == [2]
    assert promotion.advance(2, 1, []).action == "await_approval"
