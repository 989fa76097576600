"""Prometheus text exposition (format 0.0.4) without the prometheus_client library.

All updates happen on the event-loop thread, so plain ints and lists suffice:
observing a latency is one ``bisect`` and three additions.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

ENDPOINTS = ("predict", "infer", "metadata", "health", "metrics", "feedback", "other", "grpc_infer", "grpc_metadata")
ERROR_KINDS = (
    "bad_request",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "headers_too_large",
    "length_required",
    "model_error",
    "client_gone",
    "internal",
)


class Histogram:
    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def render(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out, cumulative = [], 0
        for bound, n in zip(self.bounds, self.counts):
            cumulative += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{_fmt(bound)}"}} {cumulative}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        lab = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{lab} {_fmt(self.total)}")
        out.append(f"{name}_count{lab} {self.count}")
        return out


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters and histograms of one runtime process."""

    def __init__(self, model_name: str, model_version: str, backend: str):
        self.model_labels = (
            f'model="{_escape(model_name)}",version="{_escape(model_version)}",backend="{_escape(backend)}"'
        )
        self.requests: dict[tuple[str, int], int] = {}
        self.errors: dict[str, int] = {kind: 0 for kind in ERROR_KINDS}
        self.latency = {endpoint: Histogram(LATENCY_BUCKETS) for endpoint in ENDPOINTS}
        self.inference = Histogram(LATENCY_BUCKETS)
        self.batch_rows = Histogram(BATCH_BUCKETS)
        self.batch_requests = Histogram(BATCH_BUCKETS)
        self.rows_total = 0
        self.in_flight = 0
        self.connections = 0
        self.start_time = time.time()
        #: more exposition lines, rendered before the process metrics (supervision: drift, live metric)
        self.extra: list[Callable[[], list[str]]] = []

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.latency[endpoint].observe(seconds)

    def observe_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def observe_batch(self, n_requests: int, n_rows: int, seconds: float) -> None:
        self.batch_requests.observe(n_requests)
        self.batch_rows.observe(n_rows)
        self.inference.observe(seconds)
        self.rows_total += n_rows

    def render(self) -> str:
        lines: list[str] = []
        add = lines.append
        add("# HELP stratum_model_info The model this runtime serves.")
        add("# TYPE stratum_model_info gauge")
        add(f"stratum_model_info{{{self.model_labels}}} 1")
        add("# HELP stratum_worker_info The serving process that answered this scrape (--workers: one of several).")
        add("# TYPE stratum_worker_info gauge")
        add(f'stratum_worker_info{{pid="{os.getpid()}"}} 1')
        add("# HELP stratum_requests_total HTTP requests answered, by endpoint and status code.")
        add("# TYPE stratum_requests_total counter")
        for (endpoint, status), n in sorted(self.requests.items()):
            add(f'stratum_requests_total{{endpoint="{endpoint}",code="{status}"}} {n}')
        add("# HELP stratum_request_errors_total Requests answered with an error, by kind.")
        add("# TYPE stratum_request_errors_total counter")
        for kind, n in sorted(self.errors.items()):
            add(f'stratum_request_errors_total{{kind="{kind}"}} {n}')
        add("# HELP stratum_request_duration_seconds Time from a complete request to its response being written.")
        add("# TYPE stratum_request_duration_seconds histogram")
        for endpoint in ENDPOINTS:
            lines.extend(self.latency[endpoint].render("stratum_request_duration_seconds", f'endpoint="{endpoint}"'))
        add("# HELP stratum_inference_duration_seconds Time the model took per batch.")
        add("# TYPE stratum_inference_duration_seconds histogram")
        lines.extend(self.inference.render("stratum_inference_duration_seconds"))
        add("# HELP stratum_batch_size_rows Rows per model call (micro-batching merges requests).")
        add("# TYPE stratum_batch_size_rows histogram")
        lines.extend(self.batch_rows.render("stratum_batch_size_rows"))
        add("# HELP stratum_batch_size_requests Requests merged into one model call.")
        add("# TYPE stratum_batch_size_requests histogram")
        lines.extend(self.batch_requests.render("stratum_batch_size_requests"))
        add("# HELP stratum_rows_total Rows predicted.")
        add("# TYPE stratum_rows_total counter")
        add(f"stratum_rows_total {self.rows_total}")
        add("# HELP stratum_requests_in_flight Prediction requests received and not yet answered.")
        add("# TYPE stratum_requests_in_flight gauge")
        add(f"stratum_requests_in_flight {self.in_flight}")
        add("# HELP stratum_open_connections Open client connections.")
        add("# TYPE stratum_open_connections gauge")
        add(f"stratum_open_connections {self.connections}")
        for render in self.extra:
            lines.extend(render())
        lines.extend(process_metrics(self.start_time))
        return "\n".join(lines) + "\n"


def process_metrics(start_time: float) -> list[str]:
    """CPU seconds, resident/virtual memory, open fds (the standard ``process_*`` names)."""
    times = os.times()
    out = [
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {times.user + times.system!r}",
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {start_time!r}",
    ]
    rss = vms = None
    try:
        with open("/proc/self/statm") as fh:
            fields = fh.read().split()
        page = os.sysconf("SC_PAGE_SIZE")
        vms, rss = int(fields[0]) * page, int(fields[1]) * page
    except (OSError, ValueError, IndexError, AttributeError):
        try:  # not Linux: peak RSS is the best the stdlib offers
            import resource
            import sys

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            rss = peak if sys.platform == "darwin" else peak * 1024
        except Exception:  # noqa: BLE001 - metrics must never fail a scrape
            pass
    if rss is not None:
        out += [
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge",
            f"process_resident_memory_bytes {rss}",
        ]
    if vms is not None:
        out += [
            "# HELP process_virtual_memory_bytes Virtual memory size in bytes.",
            "# TYPE process_virtual_memory_bytes gauge",
            f"process_virtual_memory_bytes {vms}",
        ]
    try:
        fds = len(os.listdir("/proc/self/fd"))
        out += [
            "# HELP process_open_fds Number of open file descriptors.",
            "# TYPE process_open_fds gauge",
            f"process_open_fds {fds}",
        ]
    except OSError:
        pass
    return out
