"""What drift tracking (or a shadow model) costs the runtime: p50 at concurrency 1 and throughput at 64,
on vs off.

One bundle (scaled logistic regression on breast cancer, 30 float columns, with reference
statistics; ONNX backend) served by two runtimes side by side: the default (drift tracked over
200 rows, checked every 50) and ``--no-drift``. Each round runs ``wrk`` (one thread, single-row
``POST /predict``, keep-alive) on one runtime and at once the same run on the other, order
alternating; medians over rounds. The server's own CPU time per request (from /proc) is reported
too: on a shared machine it is the steadier figure. Every request sends the same row (wrk's
body is fixed), so the tracker reports drift after the first window; that costs the same as
tracking in-distribution traffic.

    python benchmarks/supervise/bench_serving.py [--rounds 5] [--duration 3] [--out serving_results.json]
    python benchmarks/supervise/bench_serving.py --shadow [--out shadow_results.json]

``--shadow``: both runtimes track drift; one also runs a second version of the model (another copy of
the same pipeline, registered as version 2, its own bundle) with ``--shadow``: it predicts every
request too, its answers are kept for the labels and never returned.

Needs ``wrk`` and the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "serving"))

from bench import REPO, fit_models, free_port, settle, stop, wait_ready, wrk  # noqa: E402

CONCURRENCY = (1, 64)
KINDS = {"drift": [], "no-drift": ["--no-drift"]}


def build(workdir: Path, versions: int = 1):
    """The bundles' paths (one per version of the same model) and the test rows."""
    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.supervise.reference import reference_statistics

    X_train, X_test, models = fit_models()
    model = models["logistic_regression"]
    reg = open_registry(workdir / "registry")
    sample = X_test.head(5)
    lineage = {
        "task": "classification",
        "input_schema": {"columns": [{"name": c, "dtype": str(t)} for c, t in X_train.dtypes.items()]},
        "classes": [0, 1],
        "sample": {"records": sample.to_dict(orient="records"), "expected": model.predict(sample).tolist()},
        "reference": reference_statistics(X_train, model.predict(X_test), task="classification"),
    }
    paths = []
    for v in range(versions):
        mv = reg.register("cancer", model, lineage=lineage)
        paths.append(build_bundle(mv.ref, workdir / f"cancer-{v + 1}", registry=reg, tarball=False).path)
    return paths, X_test


def start(bundle: Path, extra: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "jupyter_stratum.serve", str(bundle), "--port", str(port), "--backend", "onnx", *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_ready(port, proc)
    return proc, port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(kinds: dict[str, list[str]], bundle: Path, body: str, rounds: int, duration: int, lua: Path) -> list:
    """Runs of wrk on one runtime per kind, side by side, order alternating each round."""
    out = []
    servers = {kind: start(bundle, extra) for kind, extra in kinds.items()}
    try:
        for _proc, port in servers.values():
            wrk(port, body, 1, 1, lua)  # warm-up (fills the drift window)
        for r in range(rounds):
            round_result: dict = {kind: {} for kind in kinds}
            for c in CONCURRENCY:
                for kind in list(kinds) if r % 2 == 0 else list(reversed(kinds)):
                    proc, port = servers[kind]
                    settle(port)
                    cpu0 = cpu_seconds(proc.pid)
                    run = wrk(port, body, c, duration, lua)
                    if run["requests"]:
                        run["server_cpu_us"] = (cpu_seconds(proc.pid) - cpu0) / run["requests"] * 1e6
                    round_result[kind][c] = run
                    print(f"# round {r} {kind} c={c}: {json.dumps(run)}", flush=True)
            out.append(round_result)
    finally:
        for proc, _port in servers.values():
            stop(proc)
    return out


def medians(rounds_: list, kinds: list[str]) -> dict:
    """Per kind, the medians over rounds; ``cost``: the first kind against the second."""
    med = {}
    for kind in kinds:
        rounds = [r[kind] for r in rounds_]
        med[kind] = {
            "p50_ms_c1": statistics.median(x[1]["p50_ms"] for x in rounds),
            "rps_c1": statistics.median(x[1]["rps"] for x in rounds),
            "rps_c64": statistics.median(x[64]["rps"] for x in rounds),
            "cpu_us_c1": statistics.median(x[1].get("server_cpu_us", float("nan")) for x in rounds),
            "cpu_us_c64": statistics.median(x[64].get("server_cpu_us", float("nan")) for x in rounds),
        }
    on, off = med[kinds[0]], med[kinds[1]]
    med["cost"] = {
        "p50_c1": on["p50_ms_c1"] / off["p50_ms_c1"] - 1,
        "throughput_c64": 1 - on["rps_c64"] / off["rps_c64"],
        "cpu_per_request_c64": on["cpu_us_c64"] / off["cpu_us_c64"] - 1,
    }
    return med


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--shadow", action="store_true", help="a shadow model on vs off (drift tracked in both)")
    ap.add_argument("--out", help="default: serving_results.json, or shadow_results.json with --shadow")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    out = Path(args.out or HERE / ("shadow_results.json" if args.shadow else "serving_results.json"))
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results: dict = {"uptime_before": uptime, "cpus": os.cpu_count(), "duration_s": args.duration, "rounds": []}
    workdir = Path(tempfile.mkdtemp(prefix="stratum-drift-bench-"))
    try:
        bundles, X_test = build(workdir, versions=2 if args.shadow else 1)
        kinds = {"shadow": ["--shadow", str(bundles[1])], "no-shadow": []} if args.shadow else KINDS
        body = json.dumps({"records": X_test.iloc[[0]].to_dict(orient="records")})
        results["rounds"] = compare(kinds, bundles[0], body, args.rounds, args.duration, workdir / "post.lua")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results["median"] = medians(results["rounds"], list(kinds))
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["median"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
