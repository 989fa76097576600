"""Reading a serve runtime's Prometheus ``/metrics`` and turning two readings into rates.

The numbers follow Prometheus' own definitions, so they match what a Prometheus
server would compute from the same scrapes: ``rate()`` is the counter increase
over the elapsed time, quantiles come from the cumulative latency buckets with
``histogram_quantile``'s linear interpolation inside the bucket.
"""

from __future__ import annotations

import math
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..deploy.docker_stats import ContainerStats

#: endpoints whose requests count as predictions
PREDICTION_ENDPOINTS = ("predict", "infer")

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition: ``(name, labels, value)``."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        labels = {
            k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            for k, v in _LABEL.findall(m.group(3) or "")
        }
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile``: ``buckets`` are ``(upper bound, cumulative count)``.

    NaN when there are no observations; the highest finite bound when the rank falls
    in the ``+Inf`` bucket.
    """
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


@dataclass
class Scrape:
    """One reading of one host's /metrics."""

    host: str
    url: str
    time: float
    up: bool
    error: str = ""
    requests: float = 0.0  # prediction requests (predict + infer), all status codes
    requests_by_code: dict[str, float] = field(default_factory=dict)
    errors: float = 0.0  # every request answered with an error
    buckets: list[tuple[float, float]] = field(default_factory=list)  # prediction latency, cumulative
    latency_sum: float = 0.0
    cpu_seconds: float = math.nan
    memory_bytes: float = math.nan
    model: str = ""
    drift_scores: dict[str, float] = field(default_factory=dict)  # feature -> statistic / threshold
    drift_detected: float = math.nan  # 1 / 0; NaN when the runtime does not track drift
    live_metric: float = math.nan  # over the labelled window
    live_metric_name: str = ""

    @classmethod
    def from_text(cls, host: str, url: str, text: str, at: float | None = None) -> Scrape:
        s = cls(host=host, url=url, time=at if at is not None else time.time(), up=True)
        buckets: dict[float, float] = {}
        for name, labels, value in parse_prometheus(text):
            if name == "stratum_requests_total" and labels.get("endpoint") in PREDICTION_ENDPOINTS:
                s.requests += value
                code = labels.get("code", "")
                s.requests_by_code[code] = s.requests_by_code.get(code, 0.0) + value
            elif name == "stratum_request_errors_total":
                s.errors += value
            elif name == "stratum_request_duration_seconds_bucket" and labels.get("endpoint") in PREDICTION_ENDPOINTS:
                le = float(labels["le"]) if labels.get("le") not in ("+Inf", "Inf") else math.inf
                buckets[le] = buckets.get(le, 0.0) + value
            elif name == "stratum_request_duration_seconds_sum" and labels.get("endpoint") in PREDICTION_ENDPOINTS:
                s.latency_sum += value
            elif name == "process_cpu_seconds_total":
                s.cpu_seconds = value
            elif name == "process_resident_memory_bytes":
                s.memory_bytes = value
            elif name == "stratum_model_info":
                s.model = f"{labels.get('model', '')}@{labels.get('version', '')}"
            elif name == "stratum_drift_score" and labels.get("feature") != "prediction":
                s.drift_scores[labels.get("feature", "")] = value
            elif name == "stratum_drift_detected":
                s.drift_detected = value
            elif name == "stratum_live_metric":
                s.live_metric, s.live_metric_name = value, labels.get("metric", "")
        s.buckets = sorted(buckets.items())
        return s


def scrape(host: str, url: str, timeout: float = 2.0) -> Scrape:
    """GET ``url``/metrics; a host that does not answer is ``up=False`` (never raises)."""
    t = time.time()
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=timeout) as r:
            text = r.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Scrape(host=host, url=url, time=t, up=False, error=str(reason))
    return Scrape.from_text(host, url, text, at=t)


@dataclass
class HostStats:
    """What a host did between two scrapes (and since its start, for the totals)."""

    host: str
    url: str
    up: bool
    time: float
    model: str = ""
    requests_total: float = 0.0
    errors_total: float = 0.0
    request_rate: float = math.nan  # prediction requests per second over the window
    error_rate: float = math.nan  # errors / requests over the window (0..1)
    p50_ms: float = math.nan  # over the window; since start when the window saw no request
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    cpu_percent: float = math.nan
    memory_mb: float = math.nan
    error: str = ""
    drift_detected: float = math.nan  # 1 / 0 at the runtime's last check; NaN: not tracked
    drifted_features: int = 0  # features whose score is >= 1
    tracked_features: int = 0
    live_metric: float = math.nan
    live_metric_name: str = ""
    #: the engine's figures for the container serving here (docker runtime); None on the process runtime
    container: ContainerStats | None = None

    def row(self) -> dict:
        row = {
            k: getattr(self, k)
            for k in (
                "host",
                "up",
                "model",
                "request_rate",
                "error_rate",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "cpu_percent",
                "memory_mb",
                "requests_total",
                "errors_total",
                "drift_detected",
                "drifted_features",
                "tracked_features",
                "live_metric",
            )
        }
        c = self.container
        if c is not None:
            row.update(
                container=c.container,
                container_cpu_percent=c.cpu_percent,
                container_cpu_limit=c.cpu_limit,
                container_memory_mb=c.memory_mb,
                container_memory_limit_mb=c.memory_limit_mb,
            )
        return row


def _delta_buckets(new: list[tuple[float, float]], old: list[tuple[float, float]]) -> list[tuple[float, float]]:
    prev = dict(old)
    return [(b, c - prev.get(b, 0.0)) for b, c in new]


def compute_stats(new: Scrape, old: Scrape | None = None) -> HostStats:
    """Rates over ``old`` → ``new``; quantiles over the window (since start without ``old``)."""
    st = HostStats(host=new.host, url=new.url, up=new.up, time=new.time, model=new.model, error=new.error)
    if not new.up:
        return st
    st.requests_total, st.errors_total = new.requests, new.errors
    st.drift_detected = new.drift_detected
    st.tracked_features = len(new.drift_scores)
    st.drifted_features = sum(score >= 1.0 for score in new.drift_scores.values())
    st.live_metric, st.live_metric_name = new.live_metric, new.live_metric_name
    st.memory_mb = new.memory_bytes / 2**20 if not math.isnan(new.memory_bytes) else math.nan
    buckets = new.buckets
    if old is not None and old.up and new.time > old.time and new.requests >= old.requests:
        dt = new.time - old.time
        d_req = new.requests - old.requests
        st.request_rate = d_req / dt
        st.error_rate = (new.errors - old.errors) / d_req if d_req > 0 else 0.0
        if not (math.isnan(new.cpu_seconds) or math.isnan(old.cpu_seconds)):
            st.cpu_percent = 100.0 * (new.cpu_seconds - old.cpu_seconds) / dt
        window = _delta_buckets(new.buckets, old.buckets)
        if window and window[-1][1] > 0:
            buckets = window
    elif new.requests:
        st.error_rate = new.errors / new.requests
    for q, attr in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        v = histogram_quantile(q, buckets)
        setattr(st, attr, v * 1000.0 if not math.isnan(v) else math.nan)
    return st
