"""``--workers 2``: two serving processes on one port (SO_REUSEPORT), both answering, both stopped by SIGTERM."""

from __future__ import annotations

import http.client
import os
import re
import signal

import pytest
from _helpers import records_of


@pytest.mark.skipif(not hasattr(os, "fork"), reason="--workers forks")
def test_two_workers_share_the_port(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, "--workers", "2")
    assert server.log[-1].rstrip().endswith("(2 workers)")
    X = logreg.X_test.iloc[:4]
    body = {"records": records_of(X)}
    pids = set()
    for _ in range(24):  # new connections: the kernel spreads them over the workers
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        pids |= set(re.findall(r'stratum_worker_info\{pid="(\d+)"\}', text))
        conn.close()
        status, answer, _ = server.post("/predict", body)
        assert status == 200 and answer["predictions"] == logreg.model.predict(X).tolist()
        server._conn.close()
        server._conn = None
    assert len(pids) == 2, pids
    assert str(server.proc.pid) not in pids  # the parent only supervises
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_workers_argument_is_checked(serve, logreg_bundle):
    import subprocess

    from _helpers import REPO, serve_cmd

    proc = subprocess.run(
        serve_cmd(logreg_bundle.path, "--workers", "zero"), capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 2 and "--workers 'zero': give a number of processes (1 or more) or 'auto'" in proc.stderr
