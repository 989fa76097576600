"""Serving benchmark: stratum-serve (ONNX and native) against a plain FastAPI + uvicorn
endpoint and against the in-process ``predict`` floor, in one run on one machine.

For a logistic regression (StandardScaler + LogisticRegression) and a 200-tree random
forest, both fitted on a DataFrame (breast cancer, 30 float columns):

- floor: ``predict`` + ``predict_proba`` on a one-row DataFrame in this process
  (and ``InferenceSession.run`` on the bundle's ONNX copy), p50/p99 and calls/s;
- each server: single-row ``POST /predict`` over loopback with keep-alive, driven by
  ``wrk`` (one thread): p50/p99 latency and requests/s at concurrency 1, then
  requests/s (and p50/p99) at concurrency 8 and 64.

    python benchmarks/serving/bench.py [--duration 3] [--out benchmarks/serving/results.json]

Needs ``wrk`` (Debian package ``wrk``) and the ``bench`` extra (fastapi, uvicorn,
uvloop, httptools). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # the floor, like the servers, computes on one thread

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

CONCURRENCY = (1, 8, 64)


def fit_models():
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    rf = RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1).fit(X_train, y_train)
    return X_train, X_test, {"logistic_regression": lr, "random_forest_200": rf}


def build_bundles(models, X_train, X_test, workdir: Path) -> dict[str, Path]:
    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.registry import open_registry

    reg = open_registry(workdir / "registry")
    schema = {"columns": [{"name": c, "dtype": str(t)} for c, t in X_train.dtypes.items()]}
    out = {}
    for name, model in models.items():
        sample = X_test.head(5)
        mv = reg.register(
            name.replace("_", "-"),
            model,
            lineage={
                "task": "classification",
                "input_schema": schema,
                "classes": [0, 1],
                "sample": {"records": sample.to_dict(orient="records"), "expected": model.predict(sample).tolist()},
            },
        )
        b = build_bundle(mv.ref, workdir / name, registry=reg, tarball=False)
        out[name] = b.path
        print(f"# bundle {name}: onnx {b.manifest['onnx']['available']} ({b.manifest['onnx']['reason']})", flush=True)
    return out


def floor(model, row_frame, onnx_path: Path | None, seconds: float) -> dict:
    """In-process predict + predict_proba on one row: the least any server can take."""

    def timeit(fn):
        for _ in range(20):
            fn()
        lat = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            fn()
            lat.append(time.perf_counter() - t0)
        lat = np.asarray(lat)
        return {
            "p50_ms": float(np.percentile(lat, 50) * 1e3),
            "p99_ms": float(np.percentile(lat, 99) * 1e3),
            "rps": float(len(lat) / lat.sum()),
        }

    out = {"sklearn": timeit(lambda: (model.predict(row_frame), model.predict_proba(row_frame)))}
    if onnx_path is not None:
        import onnxruntime as ort

        manifest = json.loads((onnx_path.parent.parent / "manifest.json").read_text())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        dtype = np.float64 if manifest["onnx"]["input_type"] == "double" else np.float32
        x = row_frame.to_numpy(dtype=dtype)
        feed = {sess.get_inputs()[0].name: x}
        out["onnxruntime"] = timeit(lambda: sess.run(None, feed))
    return out


# -------------------------------------------------------------- servers
def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {said}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, bundle: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if kind.startswith("stratum"):
        backend = kind.split("-")[1]
        cmd = [sys.executable, "-m", "jupyter_stratum.serve", str(bundle), "--port", str(port), "--backend", backend]
    else:
        env.update(
            {
                "BUNDLE": str(bundle),
                "PYTHONPATH": str(HERE),
                "BASELINE_ENDPOINT": "sync" if kind.endswith("sync") else "async",
            }
        )
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_baseline:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=HERE)
    wait_ready(port, proc)
    return proc, port


def settle(port: int) -> None:
    """Wait until the server has worked off what an earlier run left queued."""
    for _ in range(2):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=120) as r:
            r.read()
        time.sleep(0.5)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(port: int, body: str, connections: int, seconds: float, lua: Path) -> dict:
    lua.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}/predict",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pct = {}
    for p, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        pct[p] = float(value) * _UNITS[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "requests": int(total.group(1)) if total else None,
        "p50_ms": pct.get("50"),
        "p99_ms": pct.get("99"),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument(
        "--servers",
        default="stratum-onnx,stratum-native,fastapi",
        help="comma list of stratum-onnx, stratum-native, fastapi (async def), fastapi-sync (def)",
    )
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    servers = args.servers.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="stratum-bench-"))
    results: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_before": os.getloadavg()},
        "duration_s": args.duration,
        "models": {},
    }
    try:
        X_train, X_test, models = fit_models()
        bundles = build_bundles(models, X_train, X_test, workdir)
        row = X_test.iloc[[0]]
        body = json.dumps({"records": row.to_dict(orient="records")})
        for name, model in models.items():
            onnx = bundles[name] / "model" / "model.onnx"
            res = results["models"][name] = {
                "floor": floor(model, row, onnx if onnx.exists() else None, min(2.0, args.duration)),
                "servers": {},
            }
            print(f"# {name} floor: {json.dumps(res['floor'])}", flush=True)
            for kind in servers:
                if kind == "stratum-onnx" and not onnx.exists():
                    continue
                proc, port = start(kind, bundles[name])
                try:
                    wrk(port, body, 1, 1, workdir / "post.lua")  # warm-up
                    runs = {}
                    for c in CONCURRENCY:
                        settle(port)
                        runs[c] = wrk(port, body, c, args.duration, workdir / "post.lua")
                        print(f"# {name} {kind} c={c}: {json.dumps(runs[c])}", flush=True)
                    res["servers"][kind] = runs
                finally:
                    stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return save_and_print(results, args.out, markdown)


def save_and_print(results: dict, out: str, render) -> int:
    """Record the load after the run, write ``out`` (JSON) and print ``render(results)``."""
    results["machine"]["load_after"] = os.getloadavg()
    Path(out).write_text(json.dumps(results, indent=2))
    print(render(results))
    return 0


def markdown(results: dict) -> str:
    lines = []
    for name, res in results["models"].items():
        lines.append(f"\n### {name}\n")
        lines.append("| | p50 ms (c=1) | p99 ms (c=1) | req/s c=1 | req/s c=8 | req/s c=64 | p50 / p99 ms (c=64) |")
        lines.append("|---|---|---|---|---|---|---|")
        for lib, f in res["floor"].items():
            lines.append(
                f"| floor: in-process {lib} | {f['p50_ms']:.3f} | {f['p99_ms']:.3f} | {f['rps']:.0f} | – | – | – |"
            )
        for kind, runs in res["servers"].items():
            r1, r8, r64 = runs[1], runs[8], runs[64]
            lines.append(
                f"| {kind} | {r1['p50_ms']:.3f} | {r1['p99_ms']:.3f} | {r1['rps']:.0f} | {r8['rps']:.0f} | "
                f"{r64['rps']:.0f} | {r64['p50_ms']:.2f} / {r64['p99_ms']:.2f} |"
            )
        base = res["servers"].get("fastapi") or res["servers"].get("fastapi-sync")
        if base and base[64]["rps"] and base[1]["p50_ms"]:
            for kind, runs in res["servers"].items():
                if kind.startswith("stratum"):
                    lines.append(
                        f"\n{kind}: c=64 throughput = {runs[64]['rps'] / base[64]['rps']:.1f}x the FastAPI "
                        f"baseline; c=1 p50 = {runs[1]['p50_ms'] / base[1]['p50_ms']:.2f}x its latency"
                    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
