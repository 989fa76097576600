"""Drift detection: false alarms on in-distribution traffic and detection delay after a shift.

The runtime's own tracker (``jupyter_stratum.serve.drift_tracking.DriftTracker``) is fed one row
per request, as a single-row client sends them, with a check every ``check_every`` rows (the
runtime's default is also at most one check per 20 ms; at more than ``check_every / 0.02 s``
requests per second the checks, and so the delays counted in requests, get further apart):

- false alarms: a reference from 5,000 training rows (10 standard-normal features), then
  ``--rows`` in-distribution rows per seed; an alarm is a check that turns ``detected`` on;
- detection delay: 1,000 in-distribution rows, then every row has a 1-sigma mean shift on 3 of
  the 10 features; the delay is the number of shifted rows served until ``detected`` is on.

    python benchmarks/supervise/bench_drift.py [--seeds 10] [--rows 100000] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jupyter_stratum.serve.drift_tracking import DriftConfig, DriftTracker
from jupyter_stratum.supervise.reference import reference_statistics

HERE = Path(__file__).resolve().parent
N_FEATURES = 10
SHIFTED = (0, 1, 2)


def tracker(rng: np.random.Generator, config: DriftConfig) -> DriftTracker:
    train = pd.DataFrame(rng.normal(size=(5000, N_FEATURES))).add_prefix("x")
    return DriftTracker(
        reference_statistics(train, seed=int(rng.integers(1 << 30))).to_dict(), list(train.columns), config
    )


def false_alarms(seed: int, rows: int, config: DriftConfig) -> dict:
    rng = np.random.default_rng(seed)
    t = tracker(rng, config)
    started = time.perf_counter()
    alarm_rows = []
    for i, row in enumerate(rng.normal(size=(rows, N_FEATURES)).tolist()):
        before = t.report.alarms
        t.observe([row])
        if t.report.alarms > before:
            alarm_rows.append(i)
    seconds = time.perf_counter() - started
    return {
        "seed": seed,
        "rows": rows,
        "checks": t.report.checks,
        "alarms": t.report.alarms,
        "alarm_rows": alarm_rows,
        "alarms_in_first_20000": sum(r < 20000 for r in alarm_rows),
        "us_per_row": seconds / rows * 1e6,
    }


def detection_delay(seed: int, config: DriftConfig, limit: int = 5000) -> int | None:
    rng = np.random.default_rng(1000 + seed)
    t = tracker(rng, config)
    for row in rng.normal(size=(1000, N_FEATURES)).tolist():
        t.observe([row])
    shift = np.zeros(N_FEATURES)
    shift[list(SHIFTED)] = 1.0
    for i, row in enumerate((rng.normal(size=(limit, N_FEATURES)) + shift).tolist(), start=1):
        t.observe([row])
        if t.report.detected:
            return i
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--rows", type=int, default=100_000, help="in-distribution rows per seed")
    p.add_argument("--out", default=str(HERE / "results.json"))
    args = p.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results = {"machine": platform.node(), "cpus": os.cpu_count(), "uptime_before": load, "configs": []}
    for config in (
        DriftConfig(window=200, check_every=50, min_interval_s=0),
        DriftConfig(window=500, check_every=100, min_interval_s=0),
    ):
        fa = [false_alarms(s, args.rows, config) for s in range(args.seeds)]
        delays = [detection_delay(s, config) for s in range(args.seeds)]
        found = [d for d in delays if d is not None]
        total_rows = sum(r["rows"] for r in fa)
        total_alarms = sum(r["alarms"] for r in fa)
        entry = {
            "window": config.window,
            "check_every": config.check_every,
            "ert_rows": config.ert_rows,
            "false_alarms": fa,
            "alarms_per_10k_rows": total_alarms / total_rows * 1e4,
            "max_alarms_in_20000_rows": max(r["alarms_in_first_20000"] for r in fa),
            "delays": delays,
            "delay_median": statistics.median(found) if found else None,
            "delay_max": max(found) if found else None,
            "missed": len(delays) - len(found),
            "tracking_us_per_row": statistics.median(r["us_per_row"] for r in fa),
        }
        results["configs"].append(entry)
        print(
            f"window {config.window:4d} check every {config.check_every:3d}: "
            f"{total_alarms} alarms in {total_rows} in-distribution rows "
            f"({entry['alarms_per_10k_rows']:.3f} per 10k; at most {entry['max_alarms_in_20000_rows']} in the first "
            f"20,000 of any seed); delay after a 1-sigma shift on 3/10 features over {args.seeds} seeds: "
            f"{sorted(delays)} (median {entry['delay_median']}, max {entry['delay_max']}); "
            f"tracking {entry['tracking_us_per_row']:.1f} us/row",
            flush=True,
        )
    # the same detector with a fixed per-test p-value of 0.05 (ert_rows such that the level is 0.05)
    fixed = DriftConfig(window=200, check_every=50, ert_rows=100, min_interval_s=0)
    fa = [false_alarms(s, 20_000, fixed) for s in range(min(args.seeds, 5))]
    results["fixed_p_0.05"] = {"alpha": 0.05, "false_alarms": fa}
    print(
        f"fixed p = 0.05 per test (window 200, check every 50): alarms in 20,000 in-distribution rows per seed: "
        f"{[r['alarms'] for r in fa]}",
        flush=True,
    )
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
