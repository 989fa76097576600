"""The monitor's numbers against the runtime's own /metrics, after a known number of requests.

The runtime is a real `python -m jupyter_stratum.serve BUNDLE` process on 127.0.0.1,
serving a real bundle built from a registered model. The expected quantiles are
computed here from the raw bucket counts with numpy (Prometheus' linear interpolation
written independently), and bounded by the latencies the client measured.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import psutil
import pytest

from jupyter_stratum.testing import predict


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runtime(monitor_registry, tmp_path_factory):
    from jupyter_stratum.bundle import build_bundle

    b = build_bundle("cancer@1", tmp_path_factory.mktemp("mon") / "bundle", registry=monitor_registry, tarball=False)
    port = free_port()
    log = open(tmp_path_factory.mktemp("monlog") / "serve.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_stratum.serve", str(b.path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "runtime did not start"
        time.sleep(0.1)
    yield {"url": url, "proc": proc, "fitted": monitor_registry.fitted}
    proc.terminate()
    proc.wait(10)
    log.close()


def raw_metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        return r.read().decode()


def quantile_by_hand(q: float, text: str) -> float:
    """histogram_quantile over the predict+infer latency buckets, written independently."""
    counts: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("stratum_request_duration_seconds_bucket{") and (
            'endpoint="predict"' in line or 'endpoint="infer"' in line
        ):
            le = line.split('le="')[1].split('"')[0]
            b = math.inf if le == "+Inf" else float(le)
            counts[b] = counts.get(b, 0) + float(line.rsplit(" ", 1)[1])
    bounds = np.array(sorted(counts))
    cum = np.array([counts[b] for b in bounds])
    rank = q * cum[-1]
    i = int(np.searchsorted(cum, rank))  # first bucket whose cumulative count >= rank
    lo_b = 0.0 if i == 0 else bounds[i - 1]
    lo_c = 0.0 if i == 0 else cum[i - 1]
    if np.isinf(bounds[i]):
        return float(lo_b)
    return float(lo_b + (bounds[i] - lo_b) * (rank - lo_c) / (cum[i] - lo_c))


def test_monitor_numbers_match_the_runtime_after_known_requests(runtime):
    from jupyter_stratum.monitor import Monitor

    url, fitted = runtime["url"], runtime["fitted"]
    mon = Monitor({"local": url}, interval=1.0)
    first = mon.poll()["local"]
    assert first.up
    base_req, base_err = first.requests_total, first.errors_total

    n_ok, n_bad = 30, 6
    rows = fitted.X_test.head(3)
    client_ms = []
    for _ in range(n_ok):
        t = time.perf_counter()
        assert predict(url, rows) == fitted.model.predict(rows).tolist()
        client_ms.append((time.perf_counter() - t) * 1000)
    for _ in range(n_bad):  # a record without the model's columns: 400
        req = urllib.request.Request(
            url + "/predict",
            data=json.dumps({"records": [{"nope": 1}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 400

    s = mon.poll()["local"]
    text = raw_metrics(url)
    mon.close()
    assert s.up and s.model == "cancer@1"
    assert s.requests_total - base_req == n_ok + n_bad
    assert s.errors_total - base_err == n_bad
    # rate * elapsed time between the two scrapes == the requests sent
    dt = s.time - first.time
    assert s.request_rate * dt == pytest.approx(n_ok + n_bad, rel=1e-9)
    assert s.error_rate == pytest.approx(n_bad / (n_ok + n_bad), rel=1e-9)
    # the window holds exactly our requests, so its quantiles equal those of the whole
    # histogram: the first scrape saw no prediction
    assert base_req == 0
    for q, got in ((0.5, s.p50_ms), (0.95, s.p95_ms), (0.99, s.p99_ms)):
        assert got == pytest.approx(quantile_by_hand(q, text) * 1000, rel=1e-9, abs=1e-9)
    # server-side latency never exceeds what the client saw (to within one bucket's width)
    assert 0 < s.p50_ms <= s.p95_ms <= s.p99_ms
    assert s.p50_ms <= max(np.percentile(client_ms, 50) * 2.5, 1.0)
    # memory equals the process' resident set size; CPU is a percentage of one core
    rss_mb = psutil.Process(runtime["proc"].pid).memory_info().rss / 2**20
    assert s.memory_mb == pytest.approx(rss_mb, rel=0.1)
    assert 0 <= s.cpu_percent <= 200


def test_sample_and_down_host(runtime):
    from jupyter_stratum.monitor import sample

    closed = f"http://127.0.0.1:{free_port()}"
    out = sample({"up": runtime["url"], "down": closed}, interval=0.3)
    assert out["up"].up and not out["down"].up
    assert out["down"].error
    text = out.to_text()
    assert "DOWN" in text and "up" in text
    # no container here (the process runtime): no container columns, not zeros
    assert out["up"].container is None and "ctr cpu %" not in text and "container_cpu_percent" not in out.rows()[0]


def test_bokeh_panel_updates_and_stops(runtime):
    from jupyter_stratum.monitor import Monitor, MonitorPanel

    panel = MonitorPanel(Monitor({"local": runtime["url"]}, interval=0.2), title="test").start()
    try:
        deadline = time.monotonic() + 20
        while panel.updates < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert panel.updates >= 3
        data = panel.sources["local"].data
        assert len(data["t"]) == panel.updates and data["up"][-1] == 1
        assert not math.isnan(data["mem"][-1])
        widget = panel.widget  # jupyter_bokeh's BokehModel renders the layout
        assert type(widget).__name__ == "BokehModel"
    finally:
        panel.stop()
    assert not panel.running
    n = panel.updates
    time.sleep(0.6)
    assert panel.updates == n
