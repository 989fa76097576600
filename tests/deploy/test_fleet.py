"""Twenty real edge hosts (network namespaces + sshd) rolled out in waves, as the issue asks.

One story on one fleet (session fixture ``fleet_hosts``), each step building on the last:

1. v1 on every host; edge20 has no sshd (unreachable, reported, blocks nobody).
2. v2 in waves ``1,25%,100%`` (1, 5 and 14 hosts) from a real ``stratum`` process, with
   edge4's serving port taken (the inventory moves it to a port a squatter holds: its
   health check fails and it goes back to v1). The process is killed (SIGKILL, its whole
   process group) while wave 2 runs; ``stratum rollout status`` says interrupted (exit 5);
   ``stratum rollout resume`` finishes it (exit 3, partial) without redoing a finished
   host (their service processes are the same, they print no step). The registry's
   rollout and deployment records say all of it.
3. An unchanged re-run (every host but edge4, whose port is still taken) changes nothing.
4. v1 again in waves ``2,100%`` with a soak while edge1 answers errors: the first wave
   breaches its gate, goes back to v2, and the other hosts are not reached (exit 4: no host
   took the release).
5. The monitor at twenty hosts: fleet aggregates and the worst hosts, the same in the panel.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jupyter_stratum.testing import bundle_lineage, served_version

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SQUAT_PORT = 8599


def _cli(*argv: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_stratum.cli", *argv], capture_output=True, text=True, env=env, timeout=900, **kw
    )


def _pid(host, model: str = "fleet") -> int:
    return int((Path(host.root) / "models" / model / "run" / "serve.pid").read_text().split()[0])


@pytest.mark.timeout(2400)  # ~9 min on an idle machine's 2 cores; twenty hosts share them with the controller
def test_twenty_hosts_in_waves_resume_gate_and_rerun(fleet_hosts, deploy_registry, write_inventory, tmp_path):
    from jupyter_stratum.deploy.core import deploy
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.registry.rollout import rollouts

    t_start = time.monotonic()
    hosts = fleet_hosts.hosts
    by = {h.name: h for h in hosts}
    home = tmp_path / "home"
    reg = open_registry(home)
    v1, v2 = deploy_registry.fitted[1], deploy_registry.fitted[2]
    for f in (v1, v2):
        reg.register("fleet", f.model, lineage=bundle_lineage(f.model, f.X_test, f.X_test.head(5)))
    # edge20: no sshd
    ghost = by["edge20"]
    os.kill(int(Path(ghost.sshd_pidfile).read_text().split()[0]), signal.SIGTERM)
    inv1 = write_inventory(fleet_hosts, tmp_path / "v1.ini")

    # -- 1. v1 everywhere
    first = deploy("fleet@1", inv1, registry=reg)
    states = {h.host: h.status for h in first.hosts}
    assert first.exit_code == 3 and states.pop("edge20") == "unreachable", first.to_text()
    assert set(states.values()) == {"changed"}, first.to_text()

    # -- 2. v2 in waves, edge4's new port taken; the CLI is killed in wave 2, then resumed
    squatter = subprocess.Popen(
        ["ip", "netns", "exec", by["edge4"].namespace, sys.executable, "-c",
         f"import socket,time;s=socket.socket();s.bind(('0.0.0.0',{SQUAT_PORT}));s.listen();time.sleep(3600)"],
    )  # fmt: skip
    inv2 = write_inventory(fleet_hosts, tmp_path / "v2.ini", host_vars={"edge4": {"stratum_port": SQUAT_PORT}})
    args = ["deploy", "fleet@2", "--edge", str(inv2), "--waves", "1,25%,100%", "--max-fail", "30%", "--soak", "1s"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_stratum.cli", *args, "--home", str(home)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    killed_at = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        found = rollouts(reg, "fleet")
        if found and found[-1].model == "fleet@2":
            ro = found[-1]
            if any(h.wave == 2 and h.state == "done" for h in ro.hosts):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed_at = ro
                break
        time.sleep(0.2)
    log.close()
    assert killed_at is not None, f"wave 2 never finished a host: {(tmp_path / 'killed.log').read_text()}"
    done_before = {h.host for h in killed_at.hosts if h.state == "done"}
    assert "edge1" in done_before and not any(h.wave == 3 and h.state != "pending" for h in killed_at.hosts)
    pids_before = {name: _pid(by[name]) for name in done_before}

    status = _cli("rollout", "status", "fleet", "--home", str(home))
    assert status.returncode == 5 and "interrupted" in status.stdout, status.stdout + status.stderr
    resumed = _cli("rollout", "resume", "fleet", "--home", str(home))
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    progress = resumed.stdout.split("deploy fleet@2:", 1)[0]
    for name in done_before:
        assert not any(line.split()[:1] == [name] for line in progress.splitlines()), (name, progress)
        assert _pid(by[name]) == pids_before[name], f"{name} was redone"

    (ro,) = [r for r in rollouts(reg, "fleet") if r.model == "fleet@2"]
    assert ro.state == "partial" and ro.live_state == "partial"
    assert [len(ro.wave_hosts(w)) for w in (1, 2, 3)] == [1, 5, 14]
    got = {h.host: (h.wave, h.state, h.from_version, h.version) for h in ro.hosts}
    assert got.pop("edge20") == (3, "unreachable", "", "")
    assert got.pop("edge4") == (2, "rolled_back", "1", "1")
    assert set(got.values()) <= {(w, "done", "1", "2") for w in (1, 2, 3)}, got
    assert "health" in ro.host("edge4").error or "ready" in ro.host("edge4").error, ro.host("edge4").error
    assert len(ro.wave_results) == 3 and all(w["passed"] for w in ro.wave_results)
    rec = reg.deployments("fleet")[-1]
    assert rec.id == ro.deployment_id and rec.status == "partial" and rec.extra["rollout_id"] == ro.id
    assert {h.host: h.status for h in rec.hosts if h.host in ("edge4", "edge20")} == {
        "edge4": "rolled_back",
        "edge20": "unreachable",
    }
    for h in hosts[:-1]:
        want = "1" if h.name == "edge4" else "2"
        assert served_version(h.url) == want, h.name
    assert "20 hosts: 18 done, 1 rolled_back, 1 unreachable; serving v2 on 18, v1 on 1" in resumed.stdout

    # -- 3. an unchanged re-run changes nothing (edge4 left out: its new port is still taken)
    pids = {h.name: _pid(h) for h in hosts[:-1]}
    rerun = _cli("deploy", "fleet@2", "--edge", str(inv2), "--limit", "all:!edge4", "--home", str(home))
    assert rerun.returncode == 3, rerun.stdout + rerun.stderr  # edge20 is still unreachable
    rec = reg.deployments("fleet")[-1]
    assert {h.status for h in rec.hosts if h.host != "edge20"} == {"unchanged"} and not rec.changed
    assert {h.name: _pid(h) for h in hosts[:-1]} == pids

    # -- 4. a wave whose metrics breach the gate goes back; later waves are not reached
    stop = threading.Event()

    def bad_traffic():
        import urllib.request

        while not stop.is_set():
            for url in (hosts[0].url + "/predict",):
                req = urllib.request.Request(url, data=b"{not json", headers={"Content-Type": "application/json"})
                try:
                    urllib.request.urlopen(req, timeout=2)
                except Exception:  # noqa: BLE001 - 400s are the point; a restarting host refuses
                    pass
            time.sleep(0.05)

    t = threading.Thread(target=bad_traffic, daemon=True)
    t.start()
    try:
        breach = _cli(
            *("deploy", "fleet@1", "--edge", str(inv2), "--limit", "all:!edge4", "--waves", "2,100%"),
            *("--soak", "3s", "--max-error-rate", "1%", "--home", str(home)),
        )
    finally:
        stop.set()
        t.join()
    # no host took the new release (the breached wave went back, the rest were not reached): every
    # host failed to do what was asked, so the exit status is 4 (all), not 3 (some)
    assert breach.returncode == 4, breach.stdout + breach.stderr
    ro = rollouts(reg, "fleet")[-1]
    assert ro.state == "halted" and "error rate" in ro.reason and "edge1" in ro.reason, ro.reason
    assert {h.host: h.state for h in ro.wave_hosts(1)} == {"edge1": "rolled_back", "edge2": "rolled_back"}
    assert {h.state for h in ro.wave_hosts(2)} == {"not_reached"}
    for h in hosts[:3]:
        assert served_version(h.url) == "2", h.name
    gate = ro.wave_results[0]
    assert not gate["passed"] and gate["hosts"][0]["error_rate"] > 0.01

    squatter.kill()
    squatter.wait()
    json.dumps(ro.to_record())  # the record is plain JSON

    # -- 5. the monitor at twenty hosts: fleet aggregates and the worst hosts; the panel shows
    # the numbers monitor.sample() gives
    from jupyter_stratum import monitor
    from jupyter_stratum.monitor.core import Monitor
    from jupyter_stratum.monitor.panel import MonitorPanel

    targets = {h.name: h.url for h in hosts}
    sample = monitor.sample(targets, interval=0.5)
    fleet = sample.fleet
    assert (fleet.hosts, fleet.up, fleet.versions) == (20, 19, {"2": 18, "1": 1}), fleet
    text = sample.to_text().splitlines()
    assert (
        text[0] == fleet.to_text() and text[0].startswith("fleet: 19/20 up") and "serving v2 on 18, v1 on 1" in text[0]
    )
    assert (
        text[1] == "worst 5 hosts:"
        and text[3].split()[:2] == ["edge20", "DOWN"]
        and text[-1] == "... and 15 more hosts"
    )
    panel = MonitorPanel(Monitor(targets), title="fleet")
    panel.apply(sample)
    assert fleet.to_text() in panel.status.text and list(panel.sources) == ["fleet"]
    assert panel.sources["fleet"].data["up"] == [19]
    print(f"fleet test: {time.monotonic() - t_start:.0f} s")
