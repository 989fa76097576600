"""OIP over HTTP JSON vs HTTP binary tensors vs gRPC, one runtime, 1 row and 1,000 rows x 30 features.

The logistic regression of ``benchmarks/serving/bench.py`` (breast cancer, 30 float columns) is bundled
and served once with ``--grpc-port``; Triton's own clients (``tritonclient.http`` with
``binary_data=False`` for JSON and its default binary tensors, ``tritonclient.grpc``) send one
``[N, 30]`` FP64 tensor and read ``predict`` and ``predict_proba``, one request at a time on a kept
connection. The three protocols take turns (round-robin), ``--rounds`` x ``--requests`` requests each;
the table gives the client-observed p50 / p99 in ms and requests/s. Ports 9160-9161.

    python benchmarks/pipelines/protocols.py [--requests 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "serving"))

from bench import REPO, build_bundles, fit_models, stop  # noqa: E402
from concurrency import uptime, wait_ready  # noqa: E402

PORT, GRPC_PORT = 9160, 9161


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200, help="requests per protocol and round (default 200)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "protocols_results.json"))
    args = ap.parse_args()
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    results: dict = {"command": " ".join(["python", *sys.argv]), "uptime_before": uptime(), "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="stratum-protocols-") as tmp:
        X_train, X_test, models = fit_models()
        bundle = build_bundles({"logistic_regression": models["logistic_regression"]}, X_train, X_test, Path(tmp))[
            "logistic_regression"
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "jupyter_stratum.serve", str(bundle), "--port", str(PORT)]
        cmd += ["--grpc-port", str(GRPC_PORT), "--backend", "onnx"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_ready(PORT, proc)
            http = httpclient.InferenceServerClient(f"127.0.0.1:{PORT}")
            grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{GRPC_PORT}")
            full = np.resize(X_test.to_numpy(np.float64), (1000, 30))
            for rows in (1, 1000):
                X = full[:rows]
                expected = models["logistic_regression"].predict(pd.DataFrame(X, columns=X_test.columns))

                def http_call(binary: bool, X=X):
                    t = httpclient.InferInput("input", list(X.shape), "FP64").set_data_from_numpy(X, binary_data=binary)
                    outs = [
                        httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("predict", "predict_proba")
                    ]
                    return http.infer("logistic-regression", [t], outputs=outs).as_numpy("predict")

                def grpc_call(X=X):
                    t = grpcclient.InferInput("input", list(X.shape), "FP64").set_data_from_numpy(X)
                    return grpc.infer("logistic-regression", [t]).as_numpy("predict")

                calls = {
                    "http-json": lambda: http_call(False),
                    "http-binary": lambda: http_call(True),
                    "grpc": grpc_call,
                }
                lat: dict[str, list[float]] = {k: [] for k in calls}
                for name, call in calls.items():
                    assert np.array_equal(call(), expected), name  # right answers before timing
                for _ in range(args.rounds):
                    for name, call in calls.items():
                        for _ in range(args.requests):
                            t0 = time.perf_counter()
                            call()
                            lat[name].append(time.perf_counter() - t0)
                results["sizes"][rows] = {
                    k: {
                        "p50_ms": float(np.percentile(v, 50) * 1e3),
                        "p99_ms": float(np.percentile(v, 99) * 1e3),
                        "rps": len(v) / sum(v),
                    }
                    for k, v in lat.items()
                }
                print(f"# rows={rows}: {json.dumps(results['sizes'][rows])}", flush=True)
        finally:
            stop(proc)
    results["uptime_after"] = uptime()
    Path(args.out).write_text(json.dumps(results, indent=2))
    lines = [
        f"`{results['command']}`",
        "",
        f"- before: {results['uptime_before']}",
        f"- after: {results['uptime_after']}",
    ]
    lines += ["", "| rows x 30 FP64 | protocol | p50 ms | p99 ms | req/s (one client) |", "|---|---|---|---|---|"]
    for rows, by in results["sizes"].items():
        for k, v in by.items():
            lines.append(f"| {rows} | {k} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {v['rps']:.0f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
