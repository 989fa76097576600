"""The registry service under a real JupyterHub (with configurable-http-proxy) and PostgreSQL:
three hub users in two teams; who sees what, who may register and alias; the audit log; every
route refuses a missing token, a bad token and (for a model's routes) a user of another team."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_stratum
from jupyter_stratum.team.service import ROUTES
from jupyter_stratum.team.upload import upload_request


def client(hub, user):
    import httpx

    token = hub["tokens"].get(user, user)
    return httpx.Client(base_url=hub["url"], headers={"Authorization": f"token {token}"}, timeout=60)


def upload(hub, user, name, model, team=None):
    import tempfile

    from jupyter_stratum.registry.flavors import get_flavor
    from jupyter_stratum.registry.lineage import build_lineage

    flavor = get_flavor("sklearn")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{flavor.suffix}"
        flavor.save(model, path)
        row = {**build_lineage(model, {}), "flavor": "sklearn", "suffix": flavor.suffix, "author": "forged"}
        if team:
            row["team"] = team
        body, headers = upload_request(row, path)
        return client(hub, user).post(f"/models/{name}/versions", content=body, headers=headers)


def test_three_users_two_teams(hub):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    ana, ben, cat = (client(hub, u) for u in ("ana", "ben", "cat"))
    # who may register: ana (trainer in fraud), cat (trainer in churn); ben (viewer) may not
    created = upload(hub, "ana", "fraud-gbm", model)
    assert created.status_code == 201, created.text
    assert created.json()["author"] == "ana"  # the hub's name, not what the client claimed
    assert upload(hub, "cat", "churn-rf", model).status_code == 201
    refused = upload(hub, "ben", "fraud-gbm", model)
    assert refused.status_code == 403
    assert "team-fraud-trainers" in refused.json()["error"] and "hub admin" in refused.json()["error"]
    assert upload(hub, "cat", "fraud-gbm", model).status_code == 403  # another team's model
    assert upload(hub, "ana", "fraud-gbm", model).json()["version"] == 2
    # who sees what (the session's hub holds other tests' models too: each user sees their teams' only)
    for user, team, own, other in ((ana, "fraud", "fraud-gbm", "churn-rf"), (ben, "fraud", "fraud-gbm", "churn-rf")):
        listed = user.get("/models").json()
        assert own in [m["name"] for m in listed] and other not in [m["name"] for m in listed]
        assert {m["team"] for m in listed} == {team}
    assert [m["name"] for m in cat.get("/models").json()] == ["churn-rf"]
    assert cat.get("/models/fraud-gbm/versions").status_code == 403
    artifact = ben.get("/models/fraud-gbm/versions/2/artifact")
    assert artifact.status_code == 200
    import hashlib

    assert hashlib.sha256(artifact.content).hexdigest() == artifact.headers["X-Stratum-Sha256"]
    # aliases: only deployers of the fleet
    denied = ana.put("/models/fraud-gbm/aliases/champion", json={"version": 1, "fleet": "plant-a"})
    assert denied.status_code == 403 and "fleet-plant-a-deployers" in denied.json()["error"]
    moved = ben.put("/models/fraud-gbm/aliases/champion", json={"version": 1, "fleet": "plant-a"})
    assert moved.status_code == 200, moved.text
    assert ben.put("/models/fraud-gbm/aliases/champion", json={"version": 2, "fleet": "plant-a"}).status_code == 200
    assert ben.get("/models/fraud-gbm/versions/champion").json()["version"] == 2
    assert ben.put("/models/fraud-gbm/aliases/champion", json={"version": 1, "fleet": "plant-b"}).status_code == 403
    assert ben.post("/deployments", json={"model": "fraud-gbm@champion", "fleet": "plant-a"}).status_code == 201
    assert ana.post("/deployments", json={"model": "fraud-gbm@champion", "fleet": "plant-a"}).status_code == 403
    # the audit log: who, what, from which version to which
    audit = [e for e in ana.get("/audit").json() if e["name"] == "fraud-gbm"]
    assert [(e["actor"], e["kind"], e["version"]) for e in audit] == [
        ("ana", "registered", 1),
        ("ana", "registered", 2),
        ("ben", "alias_set", 1),
        ("ben", "alias_moved", 2),
        ("ben", "deployed", 2),
    ]
    assert audit[3]["details"]["previous"] == 1
    assert [e["name"] for e in cat.get("/audit").json()] == ["churn-rf"]


def test_every_route_refuses_missing_bad_and_foreign_tokens(hub):
    import httpx

    if not upload(hub, "ana", "fraud-auth", _tiny_model()).status_code == 201:
        pytest.fail("could not register the model the routes are checked on")
    deployed = client(hub, "ben").post("/deployments", json={"model": "fraud-auth@1", "fleet": "plant-a"})
    assert deployed.status_code == 201, deployed.text
    record = {"model": "fraud-auth@1", "release": "r1", "inventory": "fleet.ini", "hosts": [], "fleet": "plant-a"}
    started = client(hub, "ben").post(
        "/rollouts",
        json={"model": "fraud-auth", "state": "running", "record": record},
    )
    assert started.status_code == 201, started.text
    ids = {"deployments": str(deployed.json()["id"]), "rollouts": str(started.json()["id"])}
    samples = {"{name}": "fraud-auth", "{ref}": "1", "{version}": "1", "{alias}": "champion"}
    checked = 0
    for method, pattern, _what, _role in ROUTES:
        path = "/" + pattern.removeprefix("api/")
        if "{id}" in pattern:  # fraud-auth's record of that kind
            path = path.replace("{id}", ids[pattern.split("/")[1]])
        for key, value in samples.items():
            path = path.replace(key, value)
        body = {"version": 1, "fleet": "plant-a", "model": "fraud-auth@1", "state": "running"}
        body["record"] = record
        kwargs = {"json": body} if method in ("PUT", "POST") else {}
        no_token = httpx.request(method, hub["url"] + path, timeout=60, **kwargs)
        assert no_token.status_code == 401, (method, path, no_token.text)
        bad = client(hub, "not-a-token").request(method, path, **kwargs)
        assert bad.status_code == 401, (method, path, bad.text)
        foreign = client(hub, "cat").request(method, path, **kwargs)  # cat is in the other team
        if "{" in pattern or method != "GET":  # one model's route, or a write naming the model
            assert foreign.status_code == 403, (method, path, foreign.text)
        else:  # a listing of the caller's teams: fraud-auth's records are not in cat's
            assert foreign.status_code == 200, (method, path, foreign.text)
            assert "fraud-auth" not in foreign.text, (method, path, foreign.text)
        checked += 1
    assert checked == len(ROUTES)


def _tiny_model():
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    return DecisionTreeClassifier(max_depth=1).fit(X, y)


def test_registry_interface_through_the_service(hub, monkeypatch, tmp_path):
    """open_registry(), jupyter_stratum.load("name@alias") and `stratum models` against the service."""
    from sklearn.datasets import load_iris

    from jupyter_stratum.errors import RegistryError
    from jupyter_stratum.registry import open_registry

    X, _y = load_iris(return_X_y=True)
    model = _tiny_model()
    monkeypatch.setenv("STRATUM_REGISTRY_URL", hub["url"].removesuffix("/api"))
    monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"]["ana"])
    mv = open_registry().register("fraud-client", model, lineage={"metric": "accuracy", "cv_score": 0.8})
    assert (mv.name, mv.version, mv.author) == ("fraud-client", 1, "ana")
    with pytest.raises(RegistryError, match="fleet-plant-a-deployers"):
        monkeypatch.setenv("STRATUM_FLEET", "plant-a")
        open_registry().set_alias("fraud-client", "champion", 1)
    monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"]["ben"])
    open_registry().set_alias("fraud-client", "champion", 1)
    # deployment records: ben (deployer for plant-a) records and updates; ana reads but may not update
    deployment_id = open_registry().record_deployment({"model": "fraud-client@champion", "status": "running"})
    updated = open_registry().update_deployment(deployment_id, {"status": "ok", "hosts": [{"host": "edge1"}]})
    assert (updated["status"], updated["fleet"], updated["user"], updated["updated_by"]) == (
        "ok",
        "plant-a",
        "ben",
        "ben",
    )
    monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"]["ana"])
    assert [d.id for d in open_registry().deployments("fraud-client")] == [deployment_id]
    assert open_registry().deployments("fraud-client")[0].hosts[0].host == "edge1"
    with pytest.raises(RegistryError, match="fleet-plant-a-deployers"):
        open_registry().update_deployment(deployment_id, {"status": "failed"})
    audit = [(e.actor, e.kind) for e in open_registry().events("fraud-client")]
    assert audit[-2:] == [("ben", "deployed"), ("ben", "deployment_updated")]
    monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"]["ben"])
    assert (jupyter_stratum.load("fraud-client@champion").predict(X) == model.predict(X)).all()
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "stratum"), "models"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0 and "fraud-client" in listed.stdout, listed.stderr
    assert "churn-rf" not in listed.stdout
    monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"]["cat"])
    with pytest.raises(RegistryError, match="team-fraud"):
        jupyter_stratum.load("fraud-client@champion")
    with pytest.raises(RegistryError, match="team-fraud"):
        open_registry().update_deployment(deployment_id, {"status": "failed"})
    assert deployment_id not in [d.id for d in open_registry().deployments()]


def test_rollout_records_through_the_service(hub, monkeypatch):
    """registry/rollout.py unchanged against the service: ben (deployer for plant-a) starts and updates a
    rollout, a stored `aborting` stays; ana (same team, no deployer role) reads it but may not write; cat
    (other team) may not read it."""
    from jupyter_stratum.errors import RegistryError
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.registry.rollout import (
        Rollout,
        RolloutHost,
        current_state,
        get_rollout,
        latest_rollout,
        rollouts,
        save_rollout,
        set_state,
    )

    monkeypatch.setenv("STRATUM_REGISTRY_URL", hub["url"].removesuffix("/api"))
    monkeypatch.setenv("STRATUM_FLEET", "plant-a")

    def as_user(user):
        monkeypatch.setenv("STRATUM_REGISTRY_TOKEN", hub["tokens"][user])
        return open_registry()

    assert as_user("ana").register("fraud-waves", _tiny_model(), lineage={}).version == 1
    ben = as_user("ben")
    hosts = [RolloutHost("edge1", 1), RolloutHost("edge2", 2)]
    ro = save_rollout(ben, Rollout(model="fraud-waves@1", release="r1", inventory="fleet.ini", hosts=hosts))
    ro.hosts[0].state = "done"
    assert save_rollout(ben, ro).state == "running"
    set_state(ben, ro.id, "aborting", "stopped by ben")
    ro.hosts[1].state = "not_reached"
    assert (save_rollout(ben, ro).state, ro.reason) == ("aborting", "stopped by ben")  # the abort wins
    ro.state = "aborted"
    save_rollout(ben, ro)
    ana = as_user("ana")
    stored = get_rollout(ana, ro.id)
    assert (stored.state, stored.reason, stored.user) == ("aborted", "stopped by ben", "ben")
    assert [h.state for h in stored.hosts] == ["done", "not_reached"]
    assert current_state(ana, ro.id) == "aborted" and latest_rollout(ana, "fraud-waves").id == ro.id
    assert [r.id for r in rollouts(ana, "fraud-waves")] == [ro.id] and ro.id in [r.id for r in rollouts(ana)]
    for write in (
        lambda: save_rollout(ana, stored),
        lambda: set_state(ana, ro.id, "aborting"),
        lambda: save_rollout(ana, Rollout(model="fraud-waves@1", release="r2", inventory="fleet.ini", hosts=hosts)),
    ):
        with pytest.raises(RegistryError, match="fleet-plant-a-deployers"):
            write()
    states = [(e.actor, e.kind, e.details.get("to")) for e in ana.events("fraud-waves") if e.kind.startswith("rollout")]
    assert states == [
        ("ben", "rollout_started", None),
        ("ben", "rollout_state", "aborting"),
        ("ben", "rollout_state", "aborted"),
    ]
    cat = as_user("cat")
    with pytest.raises(RegistryError, match="team-fraud"):
        get_rollout(cat, ro.id)
    assert ro.id not in [r.id for r in rollouts(cat)]


def _peak_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM) in KiB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])


def test_a_large_upload_streams_through_the_service_and_a_bad_one_registers_nothing(hub, tmp_path):
    """128 MB registered with the client: the service's peak memory grows by a small part of it (the artifact
    goes to a staged file as it arrives) and the same bytes come back; an old client's multipart, a row that is
    not JSON and a body cut short are refused with what to do, and leave no version behind."""
    import hashlib
    import os

    from jupyter_stratum.registry.lineage import build_lineage
    from jupyter_stratum.registry.store import sha256_of
    from jupyter_stratum.team.client import ServiceConnection, ServiceIndex, ServiceStore

    pid = hub["service_pid"]
    assert pid, "the hub runs no registry service"
    size = 128 << 20
    conn = ServiceConnection(hub["url"].removesuffix("/api"), hub["tokens"]["ana"])
    store = ServiceStore(conn, tmp_path / "cache")
    fields = {**build_lineage(_tiny_model(), {}), "flavor": "sklearn"}
    digest = hashlib.sha256()
    with store.staging(".bin") as staged:
        with staged.open("wb") as f:
            for _ in range(size >> 20):
                block = os.urandom(1 << 20)
                digest.update(block)
                f.write(block)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the service's peak memory counts from here
        before = _peak_kib(pid)
        new = ServiceIndex(conn, store).add_version(
            "fraud-large",
            lambda v: {
                **fields,
                "name": "fraud-large",
                "version": v,
                "sha256": digest.hexdigest(),
                "artifact": store.key_for("fraud-large", v, ".bin"),
            },  # fmt: skip
            lambda row: store.publish(staged, row["artifact"]),
        )
        grew_mib = (_peak_kib(pid) - before) / 1024
        # a caller the service refuses gets its refusal, not the proxy's 503 (the body is read first)
        body, headers = upload_request({**fields, "suffix": ".bin"}, staged)
        refused = client(hub, "ben").post("/models/fraud-large/versions", content=body, headers=headers)
        assert refused.status_code == 403 and "team-fraud-trainers" in refused.json()["error"], refused.text
    print(f"\nservice peak memory during a {size >> 20} MB upload: +{grew_mib:.1f} MiB")
    assert grew_mib < (size >> 20) / 4, f"the service held the upload in memory (+{grew_mib:.0f} MiB)"
    assert (new["version"], new["author"], new["sha256"]) == (1, "ana", digest.hexdigest())
    assert sha256_of(store.local_path(new["artifact"])) == digest.hexdigest()

    ana = client(hub, "ana")
    old = ana.post("/models/fraud-large/versions", data={"row": "{}"}, files={"artifact": os.urandom(8 << 20)})
    assert old.status_code == 415 and "upgrade" in old.json()["error"], old.text
    not_json = ana.post(
        "/models/fraud-large/versions",
        content=b"{not json" + b"x" * 100,
        headers={"Content-Type": "application/x-stratum-upload", "X-Stratum-Row-Length": "9"},
    )
    assert not_json.status_code == 400 and "is not JSON" in not_json.json()["error"], not_json.text
    cut = ana.post(
        "/models/fraud-large/versions",
        content=b'{"suffix": ".bin"}',
        headers={"Content-Type": "application/x-stratum-upload", "X-Stratum-Row-Length": "500"},
    )
    assert cut.status_code == 400 and "ended before the row" in cut.json()["error"], cut.text
    assert [v["version"] for v in ana.get("/models/fraud-large/versions").json()] == [1]


def test_a_client_gone_mid_upload_leaves_no_version_and_no_staged_file(hub):
    """A kernel killed while its artifact is on the way: the service drops the staged part, registers nothing."""
    import os
    import socket
    import time
    import urllib.parse

    from jupyter_stratum.registry.lineage import build_lineage

    staging = hub["homes"].parent / "service-home" / "cache" / "staging"  # the service's store stages here
    url = urllib.parse.urlsplit(hub["url"])
    head = json.dumps({**build_lineage(_tiny_model(), {}), "flavor": "sklearn", "suffix": ".bin"}).encode()
    request = (
        f"POST {url.path}/models/fraud-gone/versions HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: token {hub['tokens']['ana']}\r\nContent-Type: application/x-stratum-upload\r\n"
        f"X-Stratum-Row-Length: {len(head)}\r\nContent-Length: {len(head) + (64 << 20)}\r\n\r\n"
    ).encode()

    def staged() -> list[int]:
        return [p.stat().st_size for p in staging.iterdir()] if staging.is_dir() else []

    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(request + head + os.urandom(8 << 20))  # an eighth of what it announced
        deadline = time.monotonic() + 30
        while not any(staged()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(staged()), "the service never staged the start of the upload"  # really mid-upload
    deadline = time.monotonic() + 30
    while staged() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert staged() == [], "the staged part of a dropped upload stayed"
    gone = client(hub, "ana").get("/models/fraud-gone/versions")
    assert gone.status_code == 404, gone.text  # no version, so no such model
