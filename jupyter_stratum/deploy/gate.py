"""A wave's gate on the served model's own ``/metrics``: error rate and p99 latency over a soak.

After every host of a wave passed its health and sample check, the wave soaks: its
hosts' ``/metrics`` are read at the start and at the end of ``soak_s`` seconds, and the
window between the two readings (prediction requests only, as :mod:`jupyter_stratum.monitor`
computes them) must stay under the limits. The gate reads the traffic the hosts serve;
it sends none. A host that served no request in the window passes on both counts (the
figures say ``no traffic``).

``--soak 10s --max-error-rate 1% --max-p99-ms 250`` are the defaults when a rollout has
waves; ``--soak 0`` turns the gate off.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DeployError
from ..registry.rollout import WaveGate

DEFAULT_SOAK_S = 10.0
DEFAULT_MAX_ERROR_RATE = 0.01
DEFAULT_MAX_P99_MS = 250.0

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m)?$")


def parse_duration(text: str | float | int | None, default: float = DEFAULT_SOAK_S) -> float:
    """``"10s"``, ``"1.5m"``, ``"500ms"`` or a number of seconds -> seconds."""
    if text is None or text == "":
        return default
    if isinstance(text, (int, float)):
        return float(text)
    m = _DURATION.match(str(text).strip())
    if not m:
        raise DeployError(f"--soak: {text!r} is not a duration; write e.g. --soak 10s, --soak 2m or --soak 0.")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def parse_rate(text: str | float | None, default: float = DEFAULT_MAX_ERROR_RATE) -> float:
    """``"1%"`` or ``0.01`` -> 0.01."""
    if text is None or text == "":
        return default
    s = str(text).strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise DeployError(f"--max-error-rate: {text!r} is not a rate from 0% to 100%; write e.g. --max-error-rate 1%.")
    return value


def make_gate(soak=None, max_error_rate=None, max_p99_ms=None, *, waves: bool = True) -> WaveGate:
    """The gate from CLI-style values; without waves the soak defaults to none."""
    if max_p99_ms is not None and float(max_p99_ms) <= 0:
        raise DeployError(f"--max-p99-ms: {max_p99_ms!r} must be a positive number of milliseconds.")
    return WaveGate(
        soak_s=parse_duration(soak, DEFAULT_SOAK_S if waves else 0.0),
        max_error_rate=parse_rate(max_error_rate),
        max_p99_ms=float(max_p99_ms) if max_p99_ms is not None else DEFAULT_MAX_P99_MS,
    )


@dataclass
class HostWindow:
    """What one host served during the soak."""

    host: str
    requests: float
    error_rate: float  # 0..1 (0 without traffic)
    p99_ms: float  # nan without traffic
    up: bool = True
    breach: str = ""  # why it fails the gate ("" when it passes)

    def to_record(self) -> dict:
        return {
            "host": self.host,
            "requests": self.requests,
            "error_rate": round(self.error_rate, 4),
            "p99_ms": None if math.isnan(self.p99_ms) else round(self.p99_ms, 2),
            "up": self.up,
            "breach": self.breach,
        }


@dataclass
class GateResult:
    """The wave's verdict: every host's window and whether the wave passes."""

    wave: int
    soak_s: float
    hosts: list[HostWindow]

    @property
    def passed(self) -> bool:
        return not any(h.breach for h in self.hosts)

    @property
    def reason(self) -> str:
        bad = [f"{h.host}: {h.breach}" for h in self.hosts if h.breach]
        return f"wave {self.wave} breached its gate over a {self.soak_s:g} s soak (" + "; ".join(bad) + ")"

    def to_record(self) -> dict:
        return {
            "wave": self.wave,
            "soak_s": self.soak_s,
            "passed": self.passed,
            "hosts": [h.to_record() for h in self.hosts],
        }


def soak(
    wave: int,
    urls: dict[str, str],
    gate: WaveGate,
    *,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 2.0,
) -> GateResult:
    """Read every host's /metrics, wait ``gate.soak_s``, read again and judge the window."""
    from concurrent.futures import ThreadPoolExecutor

    from ..monitor.metrics import compute_stats, scrape

    def read_all():
        if not urls:
            return {}
        with ThreadPoolExecutor(max_workers=min(32, len(urls))) as pool:
            return dict(zip(urls, pool.map(lambda kv: scrape(kv[0], kv[1], timeout), urls.items())))

    before = read_all()
    sleep(gate.soak_s)
    after = read_all()
    out = []
    for host in urls:
        new, old = after[host], before[host]
        if not new.up:
            out.append(HostWindow(host, 0, 0.0, math.nan, up=False, breach=f"/metrics did not answer: {new.error}"))
            continue
        n = new.requests - old.requests if old.up else new.requests
        stats = compute_stats(new, old if old.up else None)
        rate = stats.error_rate if n > 0 and not math.isnan(stats.error_rate) else 0.0
        p99 = stats.p99_ms if n > 0 else math.nan
        breach = []
        if rate > gate.max_error_rate:
            breach.append(f"error rate {rate:.1%} > {gate.max_error_rate:.1%}")
        if not math.isnan(p99) and p99 > gate.max_p99_ms:
            breach.append(f"p99 {p99:.0f} ms > {gate.max_p99_ms:g} ms")
        out.append(HostWindow(host, n, rate, p99, breach=", ".join(breach)))
    return GateResult(wave=wave, soak_s=gate.soak_s, hosts=out)
