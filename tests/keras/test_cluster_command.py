"""`%stratum cluster` (show / connect / local / gateway) and the cluster/ launcher, on real processes."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_stratum import cluster as cl
from jupyter_stratum import commands
from jupyter_stratum.errors import ClusterError

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "cluster" / "launch.py"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.cluster


@pytest.fixture
def scheduler_env(monkeypatch):
    """The commands set $STRATUM_SCHEDULER in this process: undo it, and close the clients they opened."""
    monkeypatch.setenv(cl.SCHEDULER_ENV, "unset")
    monkeypatch.delenv(cl.SCHEDULER_ENV)
    yield
    cl.close()


def run(line: str, interactive: bool = True):
    return commands.run(commands.parse(line.split()), commands.CommandContext(interactive=interactive))


def _cuda_devices(dask_worker):
    return dask_worker.name, os.environ.get("CUDA_VISIBLE_DEVICES")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launcher_dry_run_pins_one_gpu_per_worker():
    out = subprocess.run(
        [
            sys.executable,
            str(LAUNCH),
            "--dry-run",
            "--gpus",
            "0,3",
            "--cpu-workers",
            "2",
            "--threads",
            "2",
            "--label",
            "head",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dask scheduler --host 0.0.0.0 --port 8786" in out
    assert "CUDA_VISIBLE_DEVICES='' " in out and out.count("--name cloud-head-") == 2
    assert "CUDA_VISIBLE_DEVICES=3 " in out and "--name gpu-head-3 --nthreads 1 --resources GPU=1" in out
    assert "--nthreads 2" in out


def test_launcher_cluster_connect_show_and_stop(tmp_path, scheduler_env):
    sched_file = tmp_path / "scheduler.json"
    launcher = subprocess.Popen(
        [
            sys.executable,
            str(LAUNCH),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-port",
            "0",
            "--scheduler-file",
            str(sched_file),
            "--cpu-workers",
            "1",
            "--gpus",
            "0",
            "--label",
            "t",
            "--local-directory",
            str(tmp_path / "work"),
            "--worker-host",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        ready = json.loads(launcher.stdout.readline())
        assert ready["workers"] == ["cloud-t-0", "gpu-t-0"]
        address = ready["scheduler"]
        view = run(f"cluster connect {address}")
        client = cl.connect(address)
        client.wait_for_workers(2, timeout=120)
        view = run("cluster")
        text = view.to_text()
        assert f"Training uses ${cl.SCHEDULER_ENV} = {address}" in text
        rows = {r["worker"]: r for r in view.info.rows()}
        assert rows["gpu-t-0"]["resources"] == "GPU=1" and rows["cloud-t-0"]["resources"] == "-"
        assert rows["gpu-t-0"]["threads"] == 1
        assert "dashboard" in view._repr_html_()
        assert os.environ[cl.SCHEDULER_ENV] == address
        # one device per GPU worker; CPU workers see none
        env = dict(client.run(_cuda_devices).values())
        assert env == {"cloud-t-0": "", "gpu-t-0": "0"}
        # training without --cluster now uses it: the plan says where Keras will run
        from jupyter_stratum.training import dry_run

        plan = dry_run("data: sklearn:iris\nsplit: {cv: 2}\nmodels: [keras_mlp, logistic_regression]\n")
        assert {r["candidate"]: r["runs on"] for r in plan.rows()} == {
            "keras_mlp": "gpu-t-0",
            "logistic_regression": "any worker (cloud-t-0, gpu-t-0)",
        }
        cl.close()
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
    # every process the launcher started is gone: the scheduler no longer answers
    host, port = address.rsplit("//", 1)[1].rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_connect_errors_and_local(scheduler_env):
    with pytest.raises(ClusterError, match=r"Cannot reach the Dask scheduler at tcp://127.0.0.1:\d+"):
        run(f"cluster connect tcp://127.0.0.1:{_free_port()}")
    assert cl.SCHEDULER_ENV not in os.environ
    with pytest.raises(commands.CommandLineError, match="--workers must be at least 1"):
        run("cluster local --workers 0")
    assert "No cluster connected yet" in run("cluster").to_text()
    view = run("cluster local --workers 1")
    assert "Embedded local cluster started" in view.to_text() and len(view.info.workers) == 1
    assert "No worker offers GPU: Keras candidates train on CPU workers." in view.to_text()
    assert "Training uses the embedded local cluster." in run("cluster").to_text()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("dask_gateway_server") is None or importlib.util.find_spec("dask_gateway") is None,
    reason="dask-gateway / dask-gateway-server not installed (the test extra has them)",
)
def test_gateway_with_the_recipe_config(tmp_path, scheduler_env, monkeypatch):
    """A real dask-gateway-server (local processes) configured by cluster/gateway/dask_gateway_config.py."""
    import dask
    import dask_gateway  # noqa: F401 - its config defaults first: the login set below must not outlive the test

    port = _free_port()
    env = {
        **os.environ,
        "STRATUM_GATEWAY_BACKEND": "local-unsafe",
        "STRATUM_GATEWAY_AUTH": "simple",
        "STRATUM_GATEWAY_ADDRESS": f"127.0.0.1:{port}",
    }
    server = subprocess.Popen(
        [str(BIN / "dask-gateway-server"), "-f", str(ROOT / "cluster" / "gateway" / "dask_gateway_config.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    gateway_cluster = None
    config = contextlib.ExitStack()  # the login below is this test's only: later tests log in with hub tokens
    try:
        deadline = time.time() + 60
        # the proxy accepts connections before the API routes exist (it answers 404 until then):
        # wait for the API's own health check
        import urllib.error
        import urllib.request

        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            assert server.poll() is None and time.time() < deadline, "dask-gateway-server did not start"
            time.sleep(0.3)
        config.enter_context(
            dask.config.set(
                {"gateway.auth.type": "basic", "gateway.auth.kwargs": {"username": "stratum-test", "password": ""}}
            )
        )
        view = run(f"cluster gateway --address http://127.0.0.1:{port} --gpu --workers 1 --timeout 180")
        from jupyter_stratum.cluster import gateway_client as gw

        gateway_cluster = gw._clusters[os.environ[cl.SCHEDULER_ENV]]
        assert [w.resources for w in view.info.workers] == [{"GPU": 1}]
        assert "Keras candidates train on the GPU worker(s)" in view.to_text()
        assert os.environ[cl.SCHEDULER_ENV].startswith(f"gateway://127.0.0.1:{port}/")
        from jupyter_stratum.training import dry_run, train

        spec = "data: sklearn:iris\nsplit: {cv: 2}\nmodels: [keras_mlp, logistic_regression]\n"
        assert dry_run(spec).candidate("keras_mlp").resources == {"GPU": 1}
        result = train("data: sklearn:iris\nsplit: {cv: 2}\nmodels: [logistic_regression]\n", register=False)
        assert result.best.workers == [view.info.workers[0].name]
    finally:
        if gateway_cluster is not None:
            gateway_cluster.shutdown()
        config.close()
        cl.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
