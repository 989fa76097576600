"""Deploy timings: 1, 5 and 20 hosts, first run and unchanged re-run, with every speed setting
on and with each one turned off in turn.

    sudo .venv/bin/python benchmarks/deploy/bench_deploy.py [--hosts 1,5,20] [--configs all] [--repeat 1] [--json OUT]

Speed settings (all on by default in `stratum deploy`):
  pipelining      SSH pipelining (modules run over stdin, no temporary files)
  persist         persistent SSH connections (ControlMaster/ControlPersist): one SSH setup per host
  free            Ansible's `free` strategy: a host does not wait for the slowest at every step
  forks           forks sized to the fleet (off: Ansible's default of 5)
  quick           an unchanged re-run asks each host once whether it already serves the release as asked

Real parts only: edge hosts are network namespaces running sshd (root needed), the
bundle is built by the real builder from a registered scikit-learn pipeline, and each
deployment is the generated Ansible project run by ansible-runner over SSH. Every
configuration deploys into its own fresh `stratum_root` and port, so "first run" is a
true first install (venv, copy, unpack, start, health + sample check) and the re-run
that follows changes nothing. Serving ports stay in 8500-8599, subnets below 10.77.200.
The machine's load (`uptime`) is printed before and after: on a shared machine the
absolute seconds move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SETTINGS = ("pipelining", "persist", "free", "forks", "quick")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="repetitions of every configuration (median reported)")
    ap.add_argument("--json", help="write the raw timings here")
    ap.add_argument("--hosts", default="1,5,20", help="host counts to measure (default 1,5,20)")
    ap.add_argument(
        "--configs",
        default="all",
        help="'all' (every setting on, then each off in turn) or a comma list of: on, "
        + ", ".join(f"no-{s}" for s in SETTINGS),
    )
    ap.add_argument("--subnet", type=int, help="hosts at 10.77.<subnet + i>.2 (default: derived from the pid)")
    a = ap.parse_args()
    counts = [int(n) for n in a.hosts.split(",")]
    configs = ["on"] + [f"no-{s}" for s in SETTINGS] if a.configs == "all" else a.configs.split(",")

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
    load_before = uptime()
    print(f"load before: {load_before}", flush=True)
    hosts = LocalEdgeHosts(max(counts), tmp / "edge", subnet=a.subnet).start()
    try:
        idx = 0
        for rep in range(a.repeat):
            for n in counts:  # host counts outermost: a run cut short still has every setting at 1 host
                for config in configs:
                    off = config[3:] if config.startswith("no-") else ""
                    idx += 1
                    tag = f"r{rep}-{config}-{n}"
                    port = 8500 + idx % 100
                    hv = {h.name: {"stratum_root": f"{h.root}/{tag}", "stratum_port": port} for h in hosts.hosts}
                    inv = hosts.write_inventory(
                        tmp / f"{tag}.ini", python=sys.executable, host_vars=hv, group_vars={"stratum_site_dirs": sites}
                    )
                    limit = ",".join(h.name for h in hosts.hosts[:n])
                    for run in ("first", "rerun"):
                        t = time.perf_counter()
                        res = deploy(
                            "bench@1",
                            inv,
                            limit=limit,
                            bundle=bundle.path,
                            registry=reg,
                            pipelining=off != "pipelining",
                            control_persist=off != "persist",
                            free=off != "free",
                            forks=5 if off == "forks" else None,
                            quick_rerun=off != "quick",
                        )
                        dt = time.perf_counter() - t
                        want = "changed" if run == "first" else "unchanged"
                        assert [h.status for h in res.hosts] == [want] * n, res.to_text()
                        rows.append({"hosts": n, "config": config, "run": run, "seconds": round(dt, 2), "repeat": rep})
                        print(f"{n:>2} host(s)  {config:<14} {run:<5}  {dt:6.1f} s   ({uptime()})", flush=True)
    finally:
        hosts.stop()
    load_after = uptime()

    def med(n, config, run):
        got = [r["seconds"] for r in rows if (r["hosts"], r["config"], r["run"]) == (n, config, run)]
        return statistics.median(got) if got else float("nan")

    print(f"\nbundle build: {bundle_s:.1f} s on {os.cpu_count()} cores")
    print(f"load before: {load_before}\nload after:  {load_after}")
    base = med(counts[0], configs[0], "first")
    print(f"{'hosts':>5} {'config':>14} {'run':>6} {'median s':>9} {'x 1-host first':>15}")
    for config in configs:
        for n in counts:
            for run in ("first", "rerun"):
                m = med(n, config, run)
                print(f"{n:>5} {config:>14} {run:>6} {m:>9.1f} {m / base:>15.2f}")
    if a.json:
        Path(a.json).write_text(
            json.dumps({"rows": rows, "bundle_s": bundle_s, "load_before": load_before, "load_after": load_after})
        )


if __name__ == "__main__":
    main()
