"""Deploy timings: 1 host vs 3 hosts, first run vs unchanged re-run, SSH pipelining on vs off.

    sudo .venv/bin/python benchmarks/deploy/bench_deploy.py [--repeat 1] [--json OUT]

Real parts only: edge hosts are network namespaces running sshd (root needed), the
bundle is built by the real builder from a registered scikit-learn pipeline, and each
deployment is the generated Ansible project run by ansible-runner over SSH. Every
configuration deploys into its own fresh `stratum_root` and port, so "first run" is a
true first install (venv, copy, unpack, start, health + sample check) and the re-run
that follows changes nothing. The baseline is 1 host with pipelining, first run.
"""

from __future__ import annotations

import argparse
import json
import os
import site
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="repetitions of every configuration (median reported)")
    ap.add_argument("--json", help="write the raw timings here")
    ap.add_argument("--hosts", default="1,3", help="host counts to measure, e.g. 1 (default 1,3)")
    ap.add_argument("--pipelining", choices=["both", "on", "off"], default="both", help="SSH pipelining settings")
    a = ap.parse_args()
    counts = [int(n) for n in a.hosts.split(",")]
    pipelinings = {"both": (True, False), "on": (True,), "off": (False,)}[a.pipelining]

    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.deploy.core import deploy
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.testing import LocalEdgeHosts, bundle_lineage, sandbox_support

    ok, why = sandbox_support()
    if not ok:
        sys.exit(f"cannot run: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="stratum-bench-deploy-"))
    reg = open_registry(tmp / "home")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    reg.register("bench", model, lineage=bundle_lineage(model, X, X.head(3)))
    t = time.perf_counter()
    bundle = build_bundle("bench@1", tmp / "bundle", registry=reg, tarball=False)
    bundle_s = time.perf_counter() - t

    sites = "[" + ", ".join(p for p in site.getsitepackages() if Path(p).is_dir()) + "]"
    rows = []
    hosts = LocalEdgeHosts(max(counts), tmp / "edge").start()
    try:
        idx = 0
        for rep in range(a.repeat):
            for pipelining in pipelinings:
                for n in counts:
                    idx += 1
                    tag = f"r{rep}-{'pl' if pipelining else 'nopl'}-{n}"
                    hv = {h.name: {"stratum_root": f"{h.root}/{tag}", "stratum_port": 8600 + idx} for h in hosts.hosts}
                    inv = hosts.write_inventory(
                        tmp / f"{tag}.ini", python=sys.executable, host_vars=hv, group_vars={"stratum_site_dirs": sites}
                    )
                    limit = ",".join(h.name for h in hosts.hosts[:n])
                    for run in ("first", "rerun"):
                        t = time.perf_counter()
                        res = deploy(
                            "bench@1", inv, limit=limit, bundle=bundle.path, registry=reg, pipelining=pipelining
                        )
                        dt = time.perf_counter() - t
                        want = "changed" if run == "first" else "unchanged"
                        assert [h.status for h in res.hosts] == [want] * n, res.to_text()
                        rows.append(
                            {"hosts": n, "pipelining": pipelining, "run": run, "seconds": round(dt, 2), "repeat": rep}
                        )
                        print(f"{n} host(s)  pipelining={pipelining!s:<5}  {run:<5}  {dt:6.1f} s", flush=True)
    finally:
        hosts.stop()

    def med(n, pl, run):
        return statistics.median(r["seconds"] for r in rows if (r["hosts"], r["pipelining"], r["run"]) == (n, pl, run))

    base = med(counts[0], pipelinings[0], "first")
    print(f"\nbundle build: {bundle_s:.1f} s   load average (1/5/15 min): {os.getloadavg()} on {os.cpu_count()} cores")
    print(f"{'hosts':>5} {'pipelining':>10} {'run':>6} {'median s':>9} {'× baseline':>11}")
    for pl in pipelinings:
        for n in counts:
            for run in ("first", "rerun"):
                m = med(n, pl, run)
                print(f"{n:>5} {str(pl):>10} {run:>6} {m:>9.1f} {m / base:>11.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "bundle_s": bundle_s, "loadavg": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
