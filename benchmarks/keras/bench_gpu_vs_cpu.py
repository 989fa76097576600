"""Keras on a GPU worker vs a CPU worker of the same heterogeneous Dask cluster.

    python benchmarks/keras/bench_gpu_vs_cpu.py            # full: 20k rows, MLP and CNN
    python benchmarks/keras/bench_gpu_vs_cpu.py --quick    # small: a few seconds per fit
    python benchmarks/keras/bench_gpu_vs_cpu.py --json out.json

Starts the cluster the way cluster/launch.py does (a scheduler, a CPU worker with
CUDA_VISIBLE_DEVICES="", and — when ``nvidia-smi`` finds a GPU — a worker pinned to
device 0 advertising GPU=1), then fits the same jupyter-stratum Keras templates
(``keras_mlp``, ``keras_cnn``) with the same seed on each worker, ``--repeat`` times
each, and reports the median fit time per worker and the CPU/GPU ratio. The first
fit on each worker (TensorFlow import, graph build) is a separate "warm-up" figure.

Where there is no GPU the benchmark runs the CPU part only and says that the
GPU figure could not be measured. Needs ``pip install -e ".[tensorflow]"`` (CPU)
or ``".[gpu]"`` (GPU build of TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def gpus() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def start_cluster(tmp: Path, with_gpu: bool, threads: int):
    sched_file = tmp / "scheduler.json"
    procs = [
        subprocess.Popen(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                str(sched_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    while not sched_file.exists():
        time.sleep(0.1)
    time.sleep(0.3)
    address = json.loads(sched_file.read_text())["address"]
    workers = {"cpu": ([], {"CUDA_VISIBLE_DEVICES": ""}, threads)}
    if with_gpu:
        workers["gpu"] = (["--resources", "GPU=1"], {"CUDA_VISIBLE_DEVICES": "0"}, 1)
    for name, (extra, env, nthreads) in workers.items():
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    address,
                    "--name",
                    name,
                    "--nthreads",
                    str(nthreads),
                    "--no-dashboard",
                    "--local-directory",
                    str(tmp / name),
                    *extra,
                ],
                env={**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "2"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    return address, procs, list(workers)


def stop(procs) -> None:
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def make_data(rows: int, seed: int = 0):
    """sklearn's digits, upsampled to 32×32 and jittered with noise to ``rows`` rows (no download)."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(digits.target), rows)
    images = np.kron(digits.images[idx] / 16.0, np.ones((4, 4)))  # 8x8 -> 32x32
    images += rng.normal(0, 0.1, images.shape)
    return images.reshape(rows, -1).astype("float32"), digits.target[idx]


def fit_once(template: str, params: dict, X, y):
    """Runs on the worker: build the catalog's estimator, fit, report time and device."""
    import time as _time

    from jupyter_stratum.catalog import resolve
    from jupyter_stratum.keras.runtime import current_config

    est = resolve(template, task="classification").build(**params)
    start = _time.perf_counter()
    est.fit(X, y)
    seconds = _time.perf_counter() - start
    config = current_config()
    return {
        "seconds": seconds,
        "epochs": est.n_epochs_,
        "device": est.device_,
        "gpus": config.gpus if config else [],
        "threads": config.threads if config else None,
        "train_accuracy": float((est.predict(X[:2000]) == y[:2000]).mean()),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small data and nets (CPU-friendly)")
    p.add_argument("--repeat", type=int, default=3, help="timed fits per worker and model (median reported)")
    p.add_argument(
        "--threads",
        type=int,
        default=max(1, min(os.cpu_count() or 1, 8)),
        help="threads of the CPU worker (TensorFlow uses exactly these)",
    )
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    rows, epochs = (3000, 3) if args.quick else (20000, 5)
    models = {
        "keras_mlp": {
            "hidden_layer_sizes": [256, 256] if not args.quick else [128],
            "epochs": epochs,
            "batch_size": 256,
            "early_stopping": False,
            "random_state": 0,
        },
        "keras_cnn": {
            "image_shape": [32, 32],
            "filters": [32, 64] if not args.quick else [16, 32],
            "dense_units": 128,
            "epochs": epochs,
            "batch_size": 256,
            "early_stopping": False,
            "random_state": 0,
        },
    }
    found = gpus()
    X, y = make_data(rows)
    from distributed import Client

    tmp = Path(tempfile.mkdtemp(prefix="stratum-bench-keras-"))
    address, procs, workers = start_cluster(tmp, bool(found), args.threads)
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "gpus": found,
            "cpu_worker_threads": args.threads,
        },
        "rows": rows,
        "repeat": args.repeat,
        "models": models,
        "results": {},
    }
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(len(workers), timeout=120)
            Xf, yf = client.scatter([X, y], broadcast=True)
            for template, params in models.items():
                for worker in workers:
                    kwargs = {"workers": [worker], "allow_other_workers": False, "pure": False}
                    if worker == "gpu":
                        kwargs["resources"] = {"GPU": 1}
                    warm = client.submit(fit_once, template, params, Xf, yf, **kwargs).result()
                    runs = [
                        client.submit(fit_once, template, params, Xf, yf, **kwargs).result() for _ in range(args.repeat)
                    ]
                    secs = [r["seconds"] for r in runs]
                    report["results"].setdefault(template, {})[worker] = {
                        "warmup_s": round(warm["seconds"], 3),
                        "median_s": round(statistics.median(secs), 3),
                        "runs_s": [round(s, 3) for s in secs],
                        "device": runs[-1]["device"],
                        "tf_gpus": runs[-1]["gpus"],
                        "threads": runs[-1]["threads"],
                        "train_accuracy": round(runs[-1]["train_accuracy"], 4),
                    }
                    print(
                        f"{template:10s} on {worker}: median {statistics.median(secs):.2f} s "
                        f"(warm-up {warm['seconds']:.2f} s, device {runs[-1]['device']})",
                        flush=True,
                    )
    finally:
        stop(procs)
    for template, per in report["results"].items():
        if "gpu" in per:
            per["cpu_over_gpu"] = round(per["cpu"]["median_s"] / per["gpu"]["median_s"], 2)
            print(f"{template}: CPU/GPU fit-time ratio {per['cpu_over_gpu']}x")
        else:
            per["cpu_over_gpu"] = None
            print(f"{template}: no GPU on this machine — the GPU figure could not be measured")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
