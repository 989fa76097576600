"""Importing and configuring TensorFlow in the process that trains.

Called from ``fit``/``predict`` only, so that TensorFlow is imported on the Dask
worker that trains, never by ``import jupyter_stratum``, ``%load_ext`` or the plan.

On a Dask worker, once per process and before TensorFlow's runtime starts:

- TensorFlow's thread pools get the worker's thread count (``--nthreads``), so a
  CPU worker does not oversubscribe the cores it shares with other workers;
- a worker that advertises the ``GPU`` resource turns memory growth on for its
  GPUs (it sees one: the launcher pins it with ``CUDA_VISIBLE_DEVICES``);
- a worker that does not advertise ``GPU`` hides the GPUs from TensorFlow, so a
  CPU worker never grabs a device that a GPU worker owns.

Outside a worker (a refit in the notebook, tests) nothing is changed unless
``STRATUM_TF_THREADS`` is set.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

_lock = threading.Lock()
_config: TFConfig | None = None


@dataclass
class TFConfig:
    """What was configured, for results and benchmarks."""

    worker: str | None = None
    threads: int | None = None
    gpu_worker: bool = False
    gpus: list[str] = field(default_factory=list)
    memory_growth: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def device(self) -> str:
        return "GPU" if self.gpus else "CPU"


def _worker_settings() -> tuple[str | None, int | None, bool]:
    """(worker name, threads, advertises GPU) of the Dask worker running this code, if any."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        threads = os.environ.get("STRATUM_TF_THREADS")
        return None, int(threads) if threads else None, False
    state = getattr(worker, "state", None)
    nthreads = getattr(state, "nthreads", None) or getattr(worker, "nthreads", None)
    resources = getattr(state, "total_resources", None) or getattr(worker, "total_resources", None) or {}
    return str(worker.name), int(nthreads) if nthreads else None, float(resources.get("GPU", 0)) > 0


def tensorflow():
    """Import TensorFlow (quietly) and configure it for this process once; return the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    configure(tf)
    return tf


def configure(tf) -> TFConfig:
    global _config
    with _lock:
        if _config is not None:
            return _config
        name, threads, gpu_worker = _worker_settings()
        config = TFConfig(worker=name, threads=threads, gpu_worker=gpu_worker)
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError as exc:  # the runtime already started in this process
                config.notes.append(f"threads not set: {exc}")
        gpus = tf.config.list_physical_devices("GPU")
        if name is not None and not gpu_worker and gpus:
            try:
                tf.config.set_visible_devices([], "GPU")
                gpus = []
                config.notes.append("GPUs hidden: this worker does not advertise the GPU resource")
            except RuntimeError as exc:
                config.notes.append(f"GPUs not hidden: {exc}")
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
                config.memory_growth = True
            except RuntimeError as exc:
                config.notes.append(f"memory growth not set: {exc}")
        config.gpus = [g.name for g in gpus]
        _config = config
        return config


def current_config() -> TFConfig | None:
    """The configuration applied in this process (None before TensorFlow was first used here)."""
    return _config
