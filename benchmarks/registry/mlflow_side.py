"""MLflow's side of the registry benchmark, run by ``bench_registry.py --mlflow PYTHON`` in MLflow's own
environment (``python3 -m venv /tmp/mlflow && /tmp/mlflow/bin/pip install mlflow skops``; not the project's).

The same operations as the other backends, on MLflow's tracking server (``mlflow server``, its model
registry, SQLite backend store, artifacts proxied by the server: ``--serve-artifacts``) started here on
127.0.0.1: register the same 1 MB and 100 MB models (``bench_registry.model_of``; skops format, as ours),
load them back (every load downloads, as the service's cold load), list 1,000 versions of one model.
Prints one JSON line: the figures (medians of --repeat), keys as bench_registry's.

    PYTHON benchmarks/registry/mlflow_side.py --sizes 1,100 --repeat 3 [--workers 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_registry import model_of, timed  # noqa: E402  (the same models, the same medians)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(workdir: Path, workers: int):
    """``mlflow server`` on a free port with a SQLite backend store and proxied artifacts; its URL."""
    port = free_port()
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
            *("--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}"),
            *("--artifacts-destination", str(workdir / "artifacts"), "--serve-artifacts"),
            *("--workers", str(workers)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"mlflow server did not start:\n{(workdir / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        import os
        import signal

        for sig in (signal.SIGTERM, signal.SIGKILL):  # its workers may outlive a SIGTERM for a while
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
                break
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,100")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1, help="the server's worker processes (ours: one process)")
    args = ap.parse_args()

    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    out: dict = {"backend": "mlflow", "mlflow": mlflow.__version__, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp, mlflow_server(Path(tmp), args.workers) as url:
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("bench")
        client = MlflowClient(url)

        def register(name: str, model) -> None:
            with mlflow.start_run():
                mlflow.sklearn.log_model(
                    model,
                    name="model",
                    registered_model_name=name,
                    serialization_format="skops",
                    # given, as MLflow's docs advise, so that it does not infer them by loading the model in a
                    # subprocess (~20 s here): our registry records library versions, it does not infer them
                    pip_requirements=["scikit-learn", "skops"],
                )

        for mb in (int(s) for s in args.sizes.split(",")):
            model = model_of(mb)
            t_reg, _ = timed(lambda m=model, s=mb: register(f"bench-{s}mb", m), args.repeat)
            t_load, _ = timed(lambda s=mb: mlflow.sklearn.load_model(f"models:/bench-{s}mb/latest"), args.repeat)
            out[f"register_{mb}mb_s"], out[f"load_{mb}mb_s"] = round(t_reg, 3), round(t_load, 3)
            print(
                f"    mlflow  {mb:>4} MB  register {t_reg:7.3f} s   load {t_load:7.3f} s", file=sys.stderr, flush=True
            )
        # 1,000 versions of one model: one logged, the rest pointing at its artifacts (listing is what is measured)
        register("bench-list", model_of(0))
        (first,) = client.search_model_versions("name='bench-list'")
        model_id = first.model_id or first.source.removeprefix("models:/")  # MLflow 3: the logged model's id
        from concurrent.futures import ThreadPoolExecutor

        def add_version(_: int) -> None:
            client.create_model_version(
                "bench-list", source=first.source, run_id=first.run_id, model_id=model_id, await_creation_for=0
            )

        with ThreadPoolExecutor(4) as pool:  # not measured: ~0.3 s a request here, 999 of them
            list(pool.map(add_version, range(args.versions - 1)))

        def list_all() -> list:
            found, token = [], None
            while True:
                page = client.search_model_versions("name='bench-list'", max_results=1000, page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    return found

        t_list, versions = timed(list_all, args.repeat)
        assert len(versions) == args.versions, len(versions)
        out["list_1000_s"] = round(t_list, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
