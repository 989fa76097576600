"""Worker preload of the embedded cluster: ignore SIGINT (Stop in a notebook interrupts the kernel's
whole process group; the worker processes must live through it). See ``client._start_local_cluster``."""

from __future__ import annotations

import signal
import threading


def dask_setup(worker) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
