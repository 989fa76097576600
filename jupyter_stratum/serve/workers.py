"""``--workers N|auto``: N serving processes on one port, so that throughput grows with the cores.

Each worker is a fork of the starting process that loads the bundle itself (nothing of the
model, ONNX Runtime or gRPC is created before the fork) and listens on the same port with
``SO_REUSEPORT``: the kernel spreads new connections over the workers' listening sockets. The
parent reserves the port first (a bound socket with ``SO_REUSEPORT``, never listening), so
``--port 0`` gives every worker the same free port; it prints the start-up lines once every
worker is ready, forwards SIGTERM/SIGINT to them, and stops them all if one dies (exit 1:
the service manager restarts the whole set). A connection stays with the worker that accepted
it; each worker has its own micro-batcher and its own ``/metrics`` (a scrape sees one worker:
the ``process_*`` and counters are per process).
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import sys
from collections.abc import Callable


def worker_count(text: str) -> int:
    """``N`` (>= 1) or ``auto`` (the CPU cores this process may run on)."""
    if text == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"--workers {text!r}: give a number of processes (1 or more) or 'auto'")
    return n


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with SO_REUSEPORT (not listening): holds the port for the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


Worker = Callable[[int, "int | None", Callable[[str], None]], int]


def serve_workers(n: int, host: str, port: int, grpc_port: int | None, run: Worker) -> int:
    """Fork ``n`` workers, each ``run(port, grpc_port, ready)``; supervise them until SIGTERM."""
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        print(
            "stratum-serve: --workers needs SO_REUSEPORT and fork (Linux, BSD, macOS); use --workers 1", file=sys.stderr
        )
        return 2
    try:
        held = [_reserve(host, port)]
        if grpc_port is not None:
            held.append(_reserve(host, grpc_port))
    except OSError as exc:
        print(f"stratum-serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    port = held[0].getsockname()[1]
    grpc_port = held[1].getsockname()[1] if grpc_port is not None else None
    sys.stdout.flush()
    sys.stderr.flush()
    pids: list[int] = []
    pipes: list[int] = []
    for _ in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(r)
            for fd in pipes:
                os.close(fd)
            for sock in held:
                sock.close()
            code = 1
            try:
                code = run(port, grpc_port, functools.partial(_tell, w))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(w)
        pids.append(pid)
        pipes.append(r)
    announced = [_read_all(r) for r in pipes]  # each worker writes its lines once ready, or exits
    if not all(announced):
        _stop(pids)
        failed = [i for i, text in enumerate(announced) if not text]
        print(f"stratum-serve: worker(s) {failed} did not start (their error is above)", file=sys.stderr)
        return 2
    print(f"{announced[0]} ({n} workers)", flush=True)
    stopping = False

    def forward(signum, frame):
        nonlocal stopping
        stopping = True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    alive = set(pids)
    while alive:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        alive.discard(pid)
        if not stopping:
            print(
                f"stratum-serve: worker {pid} exited ({os.waitstatus_to_exitcode(status)}); stopping the others",
                file=sys.stderr,
                flush=True,
            )
            code = 1
            forward(signal.SIGTERM, None)
    for sock in held:
        sock.close()
    return code


def _tell(fd: int, lines: str) -> None:
    os.write(fd, lines.encode() + b"\n")
    os.close(fd)


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode().strip()


def _stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
