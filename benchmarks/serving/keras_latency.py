"""Single-row latency of a Keras bundle against the scikit-learn LR bundle, in one run.

Both models are fitted on the same data as ``bench.py`` (breast cancer, 30 float columns,
StandardScaler first): the logistic regression of ``bench.py`` and a ``keras_mlp``
classifier (two hidden layers of 64, the template's default), built as training builds it.
Each is registered, bundled with the real builder and served by stratum-serve; ``wrk``
(one thread, one connection, keep-alive) sends single-row ``POST /predict`` for
``--duration`` seconds, ``--repeats`` times per server; the table gives the median of the
p50s (and of the p99s). The in-process floor is ``predict_proba`` on one row.

    python benchmarks/serving/keras_latency.py [--duration 3] [--repeats 3] [--out benchmarks/serving/keras_results.json]

Needs ``wrk`` and TensorFlow (the ``tensorflow`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("STRATUM_TF_THREADS", "1")  # the floor, like the servers, on one thread

import bench  # noqa: E402  (same folder: fit_models, floor, start, settle, stop, wrk)
import numpy as np  # noqa: E402

SERVERS = [
    ("logistic_regression", "stratum-onnx"),
    ("logistic_regression", "stratum-native"),
    ("keras_mlp", "stratum-native"),
    ("keras_mlp", "stratum-tflite"),
]


def fit_and_bundle(workdir: Path):
    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.training.estimator import FeatureTypes, build_estimator

    X_train, X_test, models = bench.fit_models()
    y_train = bench_labels(X_train)
    keras_mlp = build_estimator(
        "keras_mlp",
        {"epochs": 10, "random_state": 0},
        [("standard_scaler", {})],
        FeatureTypes.of(X_train),
        task="classification",
    ).fit(X_train, y_train)
    fitted = {"logistic_regression": models["logistic_regression"], "keras_mlp": keras_mlp}
    reg = open_registry(workdir / "registry")
    schema = {"columns": [{"name": c, "dtype": str(t)} for c, t in X_train.dtypes.items()]}
    sample = X_test.head(5)
    bundles = {}
    for name, model in fitted.items():
        mv = reg.register(
            name.replace("_", "-"),
            model,
            flavor="keras" if name == "keras_mlp" else "sklearn",
            lineage={
                "task": "classification",
                "input_schema": schema,
                "classes": [0, 1],
                "sample": {"records": sample.to_dict(orient="records"), "expected": model.predict(sample).tolist()},
            },
        )
        b = build_bundle(mv.ref, workdir / name, registry=reg, tarball=False)
        copy = b.manifest.get("tflite") or b.manifest["onnx"]
        print(f"# bundle {name}: copy available {copy['available']} ({copy['reason']})", flush=True)
        bundles[name] = b.path
    return X_test, fitted, bundles


def bench_labels(X_train):
    """The labels of bench.fit_models's split (same data, same seed)."""
    from sklearn.datasets import load_breast_cancer

    _, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return y.loc[X_train.index]


def floor_p50(model, row, seconds: float) -> float:
    for _ in range(20):
        model.predict_proba(row)
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        model.predict_proba(row)
        lat.append(time.perf_counter() - t0)
    return float(np.percentile(lat, 50) * 1e3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="wrk runs per server; the median is reported (default 3)")
    ap.add_argument("--out", default=str(bench.HERE / "keras_results.json"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="stratum-keras-bench-"))
    results: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_before": os.getloadavg()},
        "duration_s": args.duration,
        "repeats": args.repeats,
        "floor_p50_ms": {},
        "servers": {},
    }
    try:
        X_test, fitted, bundles = fit_and_bundle(workdir)
        row = X_test.iloc[[0]]
        body = json.dumps({"records": row.to_dict(orient="records")})
        for name, model in fitted.items():
            results["floor_p50_ms"][name] = floor_p50(model, row, min(2.0, args.duration))
        for name, kind in SERVERS:
            proc, port = bench.start(kind, bundles[name])
            try:
                bench.wrk(port, body, 1, 1, workdir / "post.lua")  # warm-up
                runs = []
                for _ in range(args.repeats):
                    bench.settle(port)
                    runs.append(bench.wrk(port, body, 1, args.duration, workdir / "post.lua"))
                results["servers"][f"{name} {kind}"] = {
                    "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                    "rps": statistics.median(r["rps"] for r in runs),
                    "runs": runs,
                }
                print(f"# {name} {kind}: {json.dumps(results['servers'][f'{name} {kind}'])}", flush=True)
            finally:
                bench.stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return bench.save_and_print(results, args.out, markdown)


def markdown(results: dict) -> str:
    base = results["servers"]["logistic_regression stratum-native"]["p50_ms"]
    lines = [
        "| single-row POST /predict, c=1 | median p50 ms | median p99 ms | req/s | p50 / LR native |",
        "|---|---|---|---|---|",
    ]
    for name, p50 in results["floor_p50_ms"].items():
        lines.append(f"| floor: in-process {name} predict_proba | {p50:.3f} | – | – | – |")
    for key, r in results["servers"].items():
        lines.append(f"| {key} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['rps']:.0f} | {r['p50_ms'] / base:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
