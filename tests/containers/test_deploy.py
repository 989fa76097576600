"""The docker runtime end to end: images built here, deployed by the generated Ansible project over SSH
to two edge hosts, each running its own dockerd in its network namespace (no route out, nothing pulled from
outside; a local registry for the pull).

One story, in order: undeploy where nothing ran in a container yet (nothing to do) → v1 to both hosts
(--runtime docker) → predictions equal predict / predict_proba → v2 (hosts marked stratum_runtime: docker in
the inventory; edge1 pulls it from the registry its inventory names) while edge2's new container fails its
check → edge2 keeps serving v1 from its old container, edge1 serves v2, the record says so → rollback with no
network → a deploy killed with its new container on the port is set right by the next → an unchanged re-run
changes nothing, copies nothing → the monitor shows each container's CPU and memory from its engine beside the
runtime's latency → undeploy removes only what carries our labels.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import time
from contextlib import redirect_stdout

import numpy as np
import pytest
from _helpers import lineage_of

from jupyter_stratum.bundle.image import LABEL_PREFIX
from jupyter_stratum.commands import CommandContext, parse, run
from jupyter_stratum.testing import predict, served_version
from jupyter_stratum.testing.served import http_json

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def stratum(*argv: str):
    buf = io.StringIO()
    with redirect_stdout(buf):
        result = run(parse(list(argv)), CommandContext(interactive=False))
    return result


@pytest.fixture(scope="module")
def story(docker_edge, base_image, cancer, tmp_path_factory, request):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from jupyter_stratum.registry import open_registry

    hosts, engines = docker_edge
    X_train, X_test, y_train, _ = cancer
    reg = open_registry(tmp_path_factory.mktemp("dk-home"))
    models = {}
    for est in (LogisticRegression(max_iter=2000), DecisionTreeClassifier(max_depth=2, random_state=0)):
        m = make_pipeline(StandardScaler(), est).fit(X_train, y_train)
        mv = reg.register("cancer", m, lineage=lineage_of(m, X_train, X_test, "classification", [0, 1]))
        models[mv.version] = m
    assert (models[1].predict(X_test) != models[2].predict(X_test)).any()
    work = tmp_path_factory.mktemp("dk-inv")
    common = {h.name: {"stratum_docker_host": engines[h.name].url} for h in hosts.hosts}
    common["edge1"].update(stratum_cpus=1.5, stratum_memory="1g")
    inv = hosts.write_inventory(work / "edge.ini", host_vars=common)
    # v2: every host asks for docker itself; edge2's new container gets an argument its runtime refuses
    per_host = {n: {**v, "stratum_runtime": "docker"} for n, v in common.items()}
    per_host["edge2"]["stratum_serve_args"] = "--no-such-option"
    # ... and edge1 pulls it from the registry its inventory names (at the near end of its link)
    try:
        image_registry, registry_why = request.getfixturevalue("image_registry"), ""
    except pytest.skip.Exception as exc:
        image_registry, registry_why = None, str(exc)
    if image_registry is not None:
        gateway = hosts.hosts[0].address.rsplit(".", 1)[0] + ".1"
        per_host["edge1"]["stratum_registry"] = f"{gateway}:{image_registry.port}"
    inv2 = hosts.write_inventory(work / "edge-v2.ini", host_vars=per_host)
    return {
        "hosts": hosts,
        "engines": engines,
        "reg": reg,
        "home": str(reg.root),
        "inv": str(inv),
        "inv2": str(inv2),
        "image_registry": image_registry,
        "registry_why": registry_why,
        "registry": per_host["edge1"].get("stratum_registry", ""),
        "models": models,
        "X": X_test.head(40),
        "base": base_image,
    }


def _containers(engine, **filters):
    labels = [f"{LABEL_PREFIX}.model.name=cancer"] + [f"{k}={v}" for k, v in filters.items()]
    return engine.client().containers.list(all=True, filters={"label": labels})


def _engine_memory(engine) -> tuple[int, int]:
    """(memory in use, limit) of the model's one running container, as the engine's stats API counts them."""
    labels = [f"{LABEL_PREFIX}.model.name=cancer"]
    (container,) = engine.client().containers.list(filters={"label": labels, "status": "running"})
    mem = container.stats(stream=False)["memory_stats"]
    return mem["usage"] - mem["stats"].get("total_inactive_file", mem["stats"].get("inactive_file", 0)), mem["limit"]


def test_docker_runtime_story(story):
    hosts, engines, models, X = story["hosts"], story["engines"], story["models"], story["X"]
    urls = {h.name: h.url for h in hosts.hosts}

    # a dry run: the project is checked on both hosts, nothing starts there
    dry = stratum(
        "deploy", "cancer@1", "--edge", story["inv"], "--runtime", "docker", "--base", story["base"], "--dry-run",
        "--home", story["home"],
    )  # fmt: skip
    assert [h.status for h in dry.hosts] == ["checked", "checked"], dry.to_text()
    assert not _containers(engines["edge1"]) and not _containers(engines["edge2"])

    # undeploy where the model never ran in a container (the hosts ask for docker): nothing to do, said so
    none = stratum("undeploy", "cancer", "--edge", story["inv2"], "--home", story["home"])
    assert none.status == "ok" and none.exit_code == 0, none.to_text()
    assert [h.status for h in none.hosts] == ["unchanged", "unchanged"], none.to_text()
    assert sum(e.step.startswith("Say that the model never ran") and e.status == "ok" for e in none.events) == 2

    # v1 everywhere: the image is built once on the controller and loaded on each host (no registry)
    res = stratum(
        "deploy", "cancer@1", "--edge", story["inv"], "--runtime", "docker", "--base", story["base"],
        "--home", story["home"],
    )  # fmt: skip
    assert res.status == "ok" and res.exit_code == 0, res.to_text()
    assert [h.status for h in res.hosts] == ["changed", "changed"]
    for name, url in urls.items():
        assert served_version(url) == "1", name
        body = http_json(url + "/predict", {"records": X.to_dict(orient="records")})
        assert body["predictions"] == models[1].predict(X).tolist(), name
        np.testing.assert_allclose(body["probabilities"], models[1].predict_proba(X), rtol=0, atol=1e-6)
    serving = _containers(engines["edge1"], **{f"{LABEL_PREFIX}.release": res.hosts[0].serving})
    assert len(serving) == 1 and serving[0].status == "running"
    hc = serving[0].attrs["HostConfig"]
    assert hc["NanoCpus"] == 1_500_000_000 and hc["Memory"] == 1 << 30
    assert serving[0].labels[f"{LABEL_PREFIX}.managed"] == "true"
    assert _containers(engines["edge2"])[0].attrs["HostConfig"]["NanoCpus"] == 0
    # something that is not ours on edge1's engine: undeploy must leave it
    foreign = subprocess.run(
        "tar cf - --files-from /dev/null | docker import - foreign:keep && docker create --name foreign foreign:keep /x",
        shell=True, capture_output=True, text=True, env={"DOCKER_HOST": engines["edge1"].url, "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )  # fmt: skip
    assert foreign.returncode == 0, foreign.stderr

    # v2: edge2's new container fails beside the old one, which keeps serving there
    res2 = stratum("deploy", "cancer@2", "--edge", story["inv2"], "--base", story["base"], "--home", story["home"])
    by = {h.host: h for h in res2.hosts}
    assert res2.status == "partial" and res2.exit_code == 3, res2.to_text()
    assert by["edge1"].status == "changed" and by["edge1"].version == "2"
    assert by["edge2"].status == "rolled_back" and by["edge2"].version == "1"
    assert "no-such-option" in by["edge2"].error, by["edge2"].error
    # the image went over as the layers the host lacked (the engine loaded the slim archive); edge1, naming a
    # registry, pulled it from there instead (the controller pushed it)
    ran = [(e.host, e.step, e.status) for e in res2.events if e.status != "skipped"]
    sent = [(h, st) for h, step, st in ran if step.startswith(("Copy the image", "Copy the whole image"))]
    pulled = [(h, st) for h, step, st in ran if step.startswith("Pull the image from the registry")]
    if story["image_registry"] is not None:
        assert sent == [("edge2", "changed")] and pulled == [("edge1", "changed")], (sent, pulled)
        assert "stratum-cancer" in story["image_registry"].catalog()
        image = engines["edge1"].client().images.get(f"{story['registry']}/stratum-cancer:2")
        assert image.labels[f"{LABEL_PREFIX}.model.version"] == "2"
    else:
        assert sorted(sent) == [("edge1", "changed"), ("edge2", "changed")] and not pulled, (sent, pulled)
    assert served_version(urls["edge1"]) == "2" and served_version(urls["edge2"]) == "1"
    assert predict(urls["edge1"], X) == models[2].predict(X).tolist()
    assert predict(urls["edge2"], X) == models[1].predict(X).tolist()
    rec = story["reg"].list_deployments("cancer")[-1]
    assert {h["host"]: (h["status"], h["version"]) for h in rec["hosts"]} == {
        "edge1": ("changed", "2"),
        "edge2": ("rolled_back", "1"),
    }
    # edge1 keeps the previous container (stopped) and its image, for an offline rollback
    assert {c.status for c in _containers(engines["edge1"])} == {"running", "exited"}
    assert len(engines["edge1"].client().images.list(filters={"label": f"{LABEL_PREFIX}.model.name=cancer"})) == 2
    assert not _containers(engines["edge2"], **{f"{LABEL_PREFIX}.role": "staging"})

    # rollback: the hosts have no route anywhere but to the controller over their link; the previous
    # image is on the host
    for h in hosts.hosts:
        routes = subprocess.run(["ip", "-n", h.namespace, "route"], capture_output=True, text=True).stdout
        assert "default" not in routes, routes
    back = stratum("rollback", "cancer", "--edge", story["inv"], "--limit", "edge1", "--home", story["home"])
    assert back.status == "ok" and back.hosts[0].version == "1", back.to_text()
    assert served_version(urls["edge1"]) == "1"
    assert predict(urls["edge1"], X) == models[1].predict(X).tolist()

    # a deploy of v2 killed after it started its new container, before it recorded it: edge1's state says v1,
    # a v2 container holds the port. The next deploy of v1 stops it and serves v1 again (it used to fail there,
    # its new container unable to bind the port)
    e1 = engines["edge1"]
    (v1c,) = [c for c in _containers(e1) if c.status == "running"]
    (v2c,) = [c for c in _containers(e1) if c.status == "exited"]
    v1c.stop(timeout=10)
    v2c.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the runtime takes a few seconds to load its model
        with contextlib.suppress(AssertionError):
            if served_version(urls["edge1"]) == "2":
                break
        time.sleep(0.5)
    assert served_version(urls["edge1"]) == "2"
    healed = stratum("deploy", "cancer@1", "--edge", story["inv"], "--runtime", "docker", "--home", story["home"])
    assert healed.status == "ok" and [h.status for h in healed.hosts] == ["changed", "unchanged"], healed.to_text()
    assert served_version(urls["edge1"]) == "1"
    assert [c.labels[f"{LABEL_PREFIX}.release"] for c in _containers(e1) if c.status == "running"] == [
        v1c.labels[f"{LABEL_PREFIX}.release"]
    ]

    # an unchanged re-run changes nothing (both hosts serve v1 as asked)
    again = stratum("deploy", "cancer@1", "--edge", story["inv"], "--runtime", "docker", "--home", story["home"])
    assert again.status == "ok" and not again.changed, again.to_text()
    assert not [
        e for e in again.events if e.step.startswith(("Copy the image", "Load the image")) and e.status != "skipped"
    ]
    assert [h.status for h in again.hosts] == ["unchanged", "unchanged"]
    # ... and costs one command per host: the helpers and the manifest are not even compared
    copies = ("Create the model's", "Install the host helpers", "Keep the manifest")
    assert not [(e.host, e.step) for e in again.events if e.step.startswith(copies) and e.status != "skipped"]

    # the monitor: each host's latency (the runtime's /metrics) beside its container's CPU and memory (the
    # engine's stats), two container configurations side by side (edge1: 1.5 cpus, 1 GiB; edge2: no limits)
    from jupyter_stratum.monitor import Monitor, MonitorPanel, sample

    for _ in range(5):
        for url in urls.values():
            predict(url, X)
    # the engine's own figures just before and just after the monitor's sample: a container's memory moves between
    # two readings (a collection, the page cache), so ours must lie within what the engine said around it
    before = {name: _engine_memory(engine) for name, engine in engines.items()}
    got = sample("cancer", registry=story["reg"], interval=0.5)
    after = {name: _engine_memory(engine) for name, engine in engines.items()}
    for name, engine in engines.items():
        s, c = got[name], got[name].container
        assert s.up and s.p50_ms > 0 and c is not None and c.release.startswith("v1-"), (name, s)
        raw = engine.client().containers.get(c.container).stats(stream=False)
        (low, limit), (high, _) = sorted([before[name], after[name]])
        assert low * 0.9 - (4 << 20) <= c.memory_bytes <= high * 1.1 + (4 << 20), (name, c, before[name], after[name])
        assert c.memory_limit_bytes == pytest.approx(limit, rel=0.01), (name, c, limit)
        assert 0 <= c.cpu_percent <= 100 * (c.cpu_limit or raw["cpu_stats"]["online_cpus"]) + 25, (name, c)
    assert (got["edge1"].container.cpu_limit, got["edge1"].container.memory_limit_bytes) == (1.5, 1 << 30)
    assert got["edge2"].container.cpu_limit == 0
    assert "ctr cpu %" in got.to_text() and got.rows()[0]["container_cpu_limit"] == 1.5
    panel = MonitorPanel(Monitor(dict(urls), containers=lambda: [got[n].container for n in urls]))
    panel.apply(got)
    e1, e2 = panel.sources["edge1"].data, panel.sources["edge2"].data
    assert e1["cmem"][-1] == got["edge1"].container.memory_mb and e1["ccpu_lim"][-1] == 150
    assert np.isnan(e2["ccpu_lim"][-1]) and e2["cmem"][-1] == got["edge2"].container.memory_mb

    # undeploy: our containers and images go, the foreign ones stay
    gone = stratum("undeploy", "cancer", "--edge", story["inv"], "--home", story["home"])
    assert gone.status == "ok" and [h.status for h in gone.hosts] == ["removed", "removed"], gone.to_text()
    for name, engine in engines.items():
        client = engine.client()
        assert not _containers(engine), name
        assert not client.images.list(filters={"label": f"{LABEL_PREFIX}.managed=true"}), name
    assert engines["edge1"].client().containers.get("foreign")
    assert engines["edge1"].client().images.get("foreign:keep")
    if story["image_registry"] is None:
        pytest.skip(f"everything but the registry pull passed; that was not checked: {story['registry_why']}")
