"""Throughput and latency as concurrency rises: c = 1, 2, 4, 8, 16, 64 in one run, per runtime variant.

Single-row ``POST /predict`` (keep-alive, wrk with one thread) against a logistic regression and
a 200-tree random forest (breast cancer, 30 float columns, the models of ``bench.py``), each
bundled with the real builder and served the way an edge host serves it. A *variant* is a
runtime (this checkout, or ``jupyter_stratum/serve`` as it was at a git commit, run as
``python -m stratum_serve`` from a copy) plus its command-line options, e.g.::

    python benchmarks/serving/concurrency.py --variant now= --variant before=@b6d024a
    python benchmarks/serving/concurrency.py --models random_forest_200 \\
        --concurrency 64 --variant "w1=--workers 1" --variant "w2=--workers 2"

For each model and concurrency the variants run one after the other (interleaved, so that a
change in the machine's load hits all of them alike), ``--rounds`` times; the table gives the
median req/s and p50, the server's CPU seconds per 1,000 requests, and ``uptime``'s load
average before and after. Servers listen on ports 9100-9199. Needs ``wrk`` (Debian ``wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import REPO, build_bundles, fit_models, settle, stop, wait_ready, wrk  # noqa: E402
from parser_compare import cpu_seconds, hand_runtime  # noqa: E402

CONCURRENCY = (1, 2, 4, 8, 16, 64)
PORTS = iter(range(9100, 9200))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def start(variant: dict, bundle: Path, backend: str) -> tuple[subprocess.Popen, int]:
    port = next(PORTS)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if variant["pythonpath"] is None:
        env["PYTHONPATH"] = str(REPO)
        module, cwd = "jupyter_stratum.serve", REPO
    else:
        env["PYTHONPATH"] = str(variant["pythonpath"])
        module, cwd = "stratum_serve", variant["pythonpath"]
    cmd = [sys.executable, "-m", module, str(bundle), "--port", str(port), "--backend", backend, *variant["args"]]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    wait_ready(port, proc, timeout=120.0)
    return proc, port


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (``--workers`` forks serving processes)."""
    total = cpu_seconds(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        try:
            total += tree_cpu(int(child))
        except (OSError, ValueError):
            pass
    return total


def parse_variants(specs: list[str], workdir: Path) -> dict[str, dict]:
    out = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        commit = None
        if rest.startswith("@"):
            commit, _, rest = rest[1:].partition(" ")
        pythonpath = hand_runtime(commit, workdir / f"runtime-{name}") if commit else None
        out[name] = {"commit": commit, "args": shlex.split(rest), "pythonpath": pythonpath}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per variant and concurrency; medians (default 1)")
    ap.add_argument("--models", default="logistic_regression,random_forest_200")
    ap.add_argument("--backend", default="onnx", help="--backend of the runtime (default onnx)")
    ap.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=[@COMMIT] [runtime options]; repeatable (default: now=, this checkout with its defaults)",
    )
    ap.add_argument("--out", default=str(HERE / "concurrency_results.json"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    levels = [int(c) for c in args.concurrency.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="stratum-concurrency-"))
    try:
        variants = parse_variants(args.variant or ["now="], workdir)
        results: dict = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpus": os.cpu_count(), "uptime_before": uptime()},
            "variants": {k: {"commit": v["commit"], "args": v["args"]} for k, v in variants.items()},
            "duration_s": args.duration,
            "models": {},
        }
        print(f"# {results['machine']['uptime_before']}", flush=True)
        X_train, X_test, models = fit_models()
        models = {k: v for k, v in models.items() if k in args.models.split(",")}
        bundles = build_bundles(models, X_train, X_test, workdir)
        body = json.dumps({"records": X_test.iloc[[0]].to_dict(orient="records")})
        lua = workdir / "post.lua"
        for name in models:
            servers = {k: start(v, bundles[name], args.backend) for k, v in variants.items()}
            runs: dict = {k: {c: [] for c in levels} for k in variants}
            try:
                for _proc, port in servers.values():
                    wrk(port, body, 1, 1, lua)  # warm-up
                for c in levels:
                    for _ in range(args.rounds):
                        for kind, (proc, port) in servers.items():
                            settle(port)
                            cpu0 = tree_cpu(proc.pid)
                            run = wrk(port, body, c, args.duration, lua)
                            run["server_cpu_s"] = tree_cpu(proc.pid) - cpu0
                            run["uptime"] = uptime()
                            runs[kind][c].append(run)
                            print(f"# {name} {kind} c={c}: {json.dumps(run)}", flush=True)
            finally:
                for proc, _ in servers.values():
                    stop(proc)
            results["models"][name] = {kind: {c: summary(r) for c, r in by_c.items()} for kind, by_c in runs.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["uptime_after"] = uptime()
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(markdown(results, levels))
    return 0


def summary(runs: list[dict]) -> dict:
    rps = statistics.median(r["rps"] for r in runs)
    cpu_per_k = statistics.median(1000 * r["server_cpu_s"] / max(1, r["requests"] or 1) for r in runs)
    return {
        "rps": rps,
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "server_cpu_s_per_1000": cpu_per_k,
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "rounds": runs,
    }


def markdown(results: dict, levels: list[int]) -> str:
    lines = [f"`{results['command']}`", "", f"- before: {results['machine']['uptime_before']}"]
    lines.append(f"- after: {results['machine']['uptime_after']}")
    for name, by_kind in results["models"].items():
        lines += ["", f"#### {name}", ""]
        head = " | ".join(f"c={c}" for c in levels)
        lines.append(f"| variant | req/s {head} | p50 ms {head} | p50 c=8 / c=1 | never falls |")
        lines.append("|---|" + "---|" * (2 * len(levels) + 2))
        for kind, by_c in by_kind.items():
            rps = [by_c[c]["rps"] for c in levels]
            p50 = [by_c[c]["p50_ms"] for c in levels]
            ratio = by_c[8]["p50_ms"] / by_c[1]["p50_ms"] if 8 in by_c and 1 in by_c else float("nan")
            monotone = all(b >= a for a, b in zip(rps, rps[1:]))
            lines.append(
                f"| {kind} | "
                + " | ".join(f"{v:.0f}" for v in rps)
                + " | "
                + " | ".join(f"{v:.3f}" for v in p50)
                + f" | {ratio:.2f}x | {'yes' if monotone else 'no'} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
