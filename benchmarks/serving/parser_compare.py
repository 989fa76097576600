"""HTTP parser benchmark: the hand-written parser's last commit against the llhttp one, same bundle, one run.

Both runtimes run as an edge host runs them, ``python -m stratum_serve BUNDLE`` from a copy of the
package: the old one from ``git archive <commit> jupyter_stratum/serve`` (default 05a912f, the last
commit with the hand parser), the new one from the bundle's own ``runtime/``. The bundle (a logistic
regression on breast cancer, 30 float columns, the ONNX backend by default) is built once and served
by both; both servers run side by side. After a 1 s warm-up of each, every round runs ``wrk`` (one
thread, keep-alive, single-row ``POST /predict``) at concurrency 1, 8 and 64, each run on one runtime
followed at once by the same run on the other (the order alternates between rounds), so that both see
the same machine: on a shared machine the load drifts more between minutes than between parsers. The
table gives the median over the rounds of p50 at c=1, requests/s at c=1, 8, 64 and the server's own
CPU time per request (utime + stime from /proc over the run / requests answered: the figure other
processes disturb least), and new/hand.

    python benchmarks/serving/parser_compare.py [--rounds 5] [--duration 3] [--out parser_results.json]

Needs ``wrk`` (Debian package ``wrk``) and git (the repository's history).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import CONCURRENCY, REPO, build_bundles, fit_models, free_port, settle, stop, wait_ready, wrk  # noqa: E402

HAND_COMMIT = "05a912f"


def hand_runtime(commit: str, dest: Path) -> Path:
    """``dest/stratum_serve``: the serve package as it was at ``commit``; returns ``dest`` (for PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, "jupyter_stratum/serve"],
        capture_output=True,
        check=True,
    ).stdout
    pkg = dest / "stratum_serve"
    pkg.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".py"):
                (pkg / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    return dest


def start_runtime(pythonpath: Path, bundle: Path, backend: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "stratum_serve", str(bundle), "--port", str(port), "--backend", backend]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=pythonpath)
    wait_ready(port, proc)
    return proc, port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hand-commit", default=HAND_COMMIT, help=f"commit of the hand parser (default {HAND_COMMIT})")
    ap.add_argument("--backend", default="onnx", choices=("onnx", "native"))
    ap.add_argument("--rounds", type=int, default=5, help="rounds of both runtimes, medians reported (default 5)")
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    ap.add_argument("--out", default=str(HERE / "parser_results.json"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    results: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_before": os.getloadavg()},
        "hand_commit": args.hand_commit,
        "new_commit": head.stdout.strip(),
        "backend": args.backend,
        "duration_s": args.duration,
        "rounds": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="stratum-parser-bench-"))
    try:
        X_train, X_test, models = fit_models()
        name = "logistic_regression"
        bundle = build_bundles({name: models[name]}, X_train, X_test, workdir)[name]
        runtimes = {"hand": hand_runtime(args.hand_commit, workdir / "hand"), "llhttp": bundle / "runtime"}
        body = json.dumps({"records": X_test.iloc[[0]].to_dict(orient="records")})
        lua = workdir / "post.lua"
        servers = {kind: start_runtime(path, bundle, args.backend) for kind, path in runtimes.items()}
        try:
            for _proc, port in servers.values():
                wrk(port, body, 1, 1, lua)  # warm-up
            # both runtimes are up (the idle one costs nothing): each wrk run of one is followed by the
            # same run of the other, in alternating order, so that both see the same machine
            for r in range(args.rounds):
                round_result: dict = {kind: {} for kind in runtimes}
                for c in CONCURRENCY:
                    for kind in list(runtimes) if r % 2 == 0 else list(reversed(runtimes)):
                        proc, port = servers[kind]
                        settle(port)
                        cpu0 = cpu_seconds(proc.pid)
                        run = wrk(port, body, c, args.duration, lua)
                        if run["requests"]:  # the server's own CPU per request: what other load disturbs least
                            run["server_cpu_us"] = (cpu_seconds(proc.pid) - cpu0) / run["requests"] * 1e6
                        round_result[kind][c] = run
                        print(f"# round {r} {kind} c={c}: {json.dumps(round_result[kind][c])}", flush=True)
                results["rounds"].append(round_result)
        finally:
            for proc, _port in servers.values():
                stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_after"] = os.getloadavg()
    results["median"] = medians(results["rounds"])
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


def medians(rounds: list[dict]) -> dict:
    out: dict = {}
    for kind in rounds[0]:
        out[kind] = {
            "p50_ms_c1": statistics.median(r[kind][1]["p50_ms"] for r in rounds),
            "p99_ms_c1": statistics.median(r[kind][1]["p99_ms"] for r in rounds),
            **{f"rps_c{c}": statistics.median(r[kind][c]["rps"] for r in rounds) for c in CONCURRENCY},
            **{
                f"cpu_us_c{c}": statistics.median(r[kind][c].get("server_cpu_us") or float("nan") for r in rounds)
                for c in CONCURRENCY
            },
            "non_2xx": sum(r[kind][c]["non_2xx"] for r in rounds for c in CONCURRENCY),
        }
    return out


def markdown(results: dict) -> str:
    m = results["median"]
    hand, new = m["hand"], m["llhttp"]
    load = results["machine"]
    lines = [
        f"hand parser {results['hand_commit']} vs llhttp {results['new_commit']}, backend {results['backend']}, "
        f"median of {len(results['rounds'])} rounds x {results['duration_s']} s per wrk run; "
        f"load average {load['load_before'][0]:.2f} before, {load['load_after'][0]:.2f} after "
        f"({load['cpus']} CPUs)",
        "",
        "| runtime | p50 ms (c=1) | p99 ms (c=1) | req/s c=1 | req/s c=8 | req/s c=64 | server CPU µs/request "
        "c=1 / 8 / 64 | non-2xx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, label in (("hand", f"hand parser ({results['hand_commit']})"), ("llhttp", "httptools/llhttp")):
        v = m[kind]
        lines.append(
            f"| {label} | {v['p50_ms_c1']:.3f} | {v['p99_ms_c1']:.3f} | {v['rps_c1']:.0f} | {v['rps_c8']:.0f} | "
            f"{v['rps_c64']:.0f} | {v['cpu_us_c1']:.0f} / {v['cpu_us_c8']:.0f} / {v['cpu_us_c64']:.0f} | "
            f"{v['non_2xx']} |"
        )
    lines.append(
        f"| llhttp / hand | {new['p50_ms_c1'] / hand['p50_ms_c1']:.2f}x | {new['p99_ms_c1'] / hand['p99_ms_c1']:.2f}x | "
        + " | ".join(f"{new[f'rps_c{c}'] / hand[f'rps_c{c}']:.2f}x" for c in CONCURRENCY)
        + " | "
        + " / ".join(f"{new[f'cpu_us_c{c}'] / hand[f'cpu_us_c{c}']:.2f}x" for c in CONCURRENCY)
        + " | |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
