#!/usr/bin/env python3
"""Start a heterogeneous Dask cluster for jupyter-stratum: a scheduler, CPU workers, one worker per GPU.

    python cluster/launch.py                          # scheduler + CPU workers + one worker per GPU found
    python cluster/launch.py --cpu-workers 4 --threads 2
    python cluster/launch.py --join tcp://head:8786   # on another host: only its workers
    python cluster/launch.py --gpus 0,2 --dry-run     # print the commands, start nothing

- CPU workers are named ``cloud-<host>-<i>`` and advertise no resource: they run
  scikit-learn tasks (and Keras tasks when the cluster has no GPU).
- GPU workers are named ``gpu-<host>-<id>``, one per device, pinned to it with
  ``CUDA_VISIBLE_DEVICES=<id>``, one thread each, and advertise ``--resources GPU=1``:
  jupyter-stratum sends Keras candidates there (``resources: {GPU: 1}``); Dask runs
  one GPU task at a time per worker. scikit-learn tasks may run on them too.
- GPUs are found with ``nvidia-smi -L`` (or ``--gpus``; ``--gpus none`` for none).

Then, in a notebook: ``%stratum cluster connect tcp://<host>:8786`` (or set
``STRATUM_SCHEDULER``). The launcher stays in the foreground; Ctrl-C (or SIGTERM)
stops every process it started. Needs only the ``dask`` command of an environment
where jupyter-stratum is installed (the workers import it), e.g. ``pip install
"jupyter-stratum[tensorflow]"`` (``[gpu]`` on GPU hosts).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def find_gpus() -> list[str]:
    """Device ids from ``nvidia-smi -L`` ("GPU 0: NVIDIA H100 ..."), else none."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split(":")[0].split()[1] for line in out.splitlines() if line.startswith("GPU ")]


def dask_command() -> list[str]:
    exe = Path(sys.executable).parent / "dask"
    return [str(exe)] if exe.exists() else [shutil.which("dask") or "dask"]


def plan_processes(args) -> tuple[list[tuple[str, list[str], dict]], str]:
    """[(name, argv, extra env)] and the scheduler address the workers join."""
    host = args.host
    short = args.label or socket.gethostname().split(".")[0]
    dask = dask_command()
    procs = []
    if args.join:
        address = args.join
    else:
        address = f"tcp://{host if host != '0.0.0.0' else socket.gethostname()}:{args.port}"
        cmd = dask + [
            "scheduler",
            "--host",
            host,
            "--port",
            str(args.port),
            "--dashboard-address",
            f":{args.dashboard_port}",
        ]
        if args.scheduler_file:
            cmd += ["--scheduler-file", args.scheduler_file]
        procs.append(("scheduler", cmd, {}))
    target = ["--scheduler-file", args.scheduler_file] if args.scheduler_file and not args.join else [address]
    common = ["--memory-limit", args.memory_limit] if args.memory_limit else []
    if args.local_directory:
        common += ["--local-directory", args.local_directory]
    if not args.worker_dashboard:
        common += ["--no-dashboard"]
    if args.worker_host:
        common += ["--host", args.worker_host]
    for i in range(args.cpu_workers):
        name = f"cloud-{short}-{i}"
        procs.append(
            (
                name,
                dask + ["worker", *target, "--name", name, "--nthreads", str(args.threads), *common],
                {"CUDA_VISIBLE_DEVICES": ""},
            )
        )  # a CPU worker never grabs a GPU
    gpus = find_gpus() if args.gpus == "auto" else ([] if args.gpus in ("none", "") else args.gpus.split(","))
    for gpu in gpus:
        name = f"gpu-{short}-{gpu}"
        procs.append(
            (
                name,
                dask + ["worker", *target, "--name", name, "--nthreads", "1", "--resources", "GPU=1", *common],
                {"CUDA_VISIBLE_DEVICES": gpu},
            )
        )
    return procs, address


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--host", default="0.0.0.0", help="scheduler interface (default: all)")
    p.add_argument("--port", type=int, default=8786, help="scheduler port (default 8786; 0: any free port)")
    p.add_argument("--dashboard-port", type=int, default=8787, help="scheduler dashboard port (default 8787)")
    p.add_argument("--scheduler-file", help="write (and let workers read) the scheduler's address here")
    p.add_argument("--join", metavar="ADDR", help="start no scheduler; workers join the one at ADDR")
    p.add_argument(
        "--cpu-workers",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="CPU ('cloud') workers on this host (default: half the cores)",
    )
    p.add_argument("--threads", type=int, default=1, help="threads per CPU worker (default 1)")
    p.add_argument("--gpus", default="auto", help="'auto' (nvidia-smi), 'none', or device ids: 0,1")
    p.add_argument("--memory-limit", help="per-worker memory limit, e.g. 8GiB (default: dask's)")
    p.add_argument("--local-directory", help="workers' scratch directory")
    p.add_argument("--worker-host", help="interface the workers listen on")
    p.add_argument("--worker-dashboard", action="store_true", help="give each worker a dashboard")
    p.add_argument("--label", help="host label in worker names (default: the hostname)")
    p.add_argument("--dry-run", action="store_true", help="print the commands; start nothing")
    args = p.parse_args(argv)

    if args.port == 0 and not args.scheduler_file and not args.join:
        p.error("--port 0 needs --scheduler-file (the workers read the scheduler's address from it)")
    procs, address = plan_processes(args)
    if args.dry_run:
        for name, cmd, env in procs:
            prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
            print(f"# {name}\n{prefix + ' ' if prefix else ''}{shlex.join(cmd)}")
        return 0

    started: list[tuple[str, subprocess.Popen]] = []

    def stop(*_):
        for _name, proc in reversed(started):  # workers first, the scheduler last
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for _name, proc in started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name, cmd, env in procs:
        proc = subprocess.Popen(cmd, env={**os.environ, **env})
        started.append((name, proc))
        if name == "scheduler":
            _wait_for_scheduler(args, proc)
            if args.scheduler_file:
                address = json.loads(Path(args.scheduler_file).read_text())["address"]
    print(json.dumps({"scheduler": address, "workers": [n for n, _ in started if n != "scheduler"]}), flush=True)
    while True:
        for name, proc in started:
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping the others", file=sys.stderr)
                stop()
        time.sleep(1)


def _wait_for_scheduler(args, proc) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the scheduler exited with code {proc.returncode}")
        if args.scheduler_file:
            try:
                json.loads(Path(args.scheduler_file).read_text())["address"]
                return
            except (OSError, ValueError, KeyError):
                pass
        else:
            try:
                with socket.create_connection(("127.0.0.1" if args.host == "0.0.0.0" else args.host, args.port), 1):
                    return
            except OSError:
                pass
        time.sleep(0.2)
    raise SystemExit("the scheduler did not start within 60 s")


if __name__ == "__main__":
    sys.exit(main())
