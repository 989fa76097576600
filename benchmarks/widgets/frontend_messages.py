"""Frontend messages of the live training view under a 1,000-task run (real kernel, real Dask).

What a browser would receive is what the kernel publishes on IOPub while the
cell runs; this script starts a real IPython kernel (jupyter_client), a real
Dask cluster (scheduler + 2 worker processes), trains 100 candidates x 10
folds = 1,000 fast tasks (iris, decision trees) and counts every IOPub message
of the cell by type, for:

  throttled   - the live view as `%%stratum train` shows it (TrainingView defaults)
  unthrottled - the same view sending on every event (baseline: min_interval=0)
  text        - NotebookProgress, the plain one-line fallback (for reference)

Output: one JSON line per variant and a summary table with ratios against the
unthrottled baseline of the same run. Not part of the test suite.

    .venv/bin/python benchmarks/widgets/frontend_messages.py [--folds 10 --candidates 100]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import tempfile
import time
from collections import Counter

SETUP = """
import os
from jupyter_stratum.training import train
from jupyter_stratum.cluster.metrics import poller_for
from jupyter_stratum.widgets.training_view import TrainingView
from jupyter_stratum.training.progress import NotebookProgress
SPEC = {spec!r}
from jupyter_stratum.widgets._bokehjs import ensure_loaded
ensure_loaded()  # BokehJS into the page, once per kernel: measured apart, not charged to a variant
WARM = "data: sklearn:iris\\nsplit: {{cv: 2}}\\nmodels: [decision_tree]\\n"
"""

VARIANTS = {
    "throttled": "view = TrainingView(metrics=poller_for(), title='bench')",
    "unthrottled": "view = TrainingView(metrics=poller_for(), title='bench', min_interval=0, plot_interval=0, heartbeat=0)",
    "text": "view = NotebookProgress()",
}

RUN = """
{make}
result = train({spec_var}, name=None, on_event=view)
getattr(view, 'close', lambda: None)()
print('STATS', {{'tasks': result.plan.n_tasks, 'seconds': result.seconds,
        'run_seconds': next(e.seconds for e in result.events if e.kind == 'RunFinished'),
        'updates': getattr(view, 'updates', None), 'renders': getattr(view, 'renders', None)}})
"""


def spec(candidates: int, folds: int) -> str:
    depths = list(range(1, candidates + 1))
    return (
        f"data: sklearn:iris\nsplit: {{test_size: 0.2, cv: {folds}, seed: 0}}\n"
        f"models:\n  - decision_tree: {{max_depth: {depths}}}\nmetric: accuracy\n"
    )


def execute(kc, code: str, timeout: float = 1800) -> tuple[Counter, Counter, str, float, int]:
    """Run ``code``; count the IOPub messages published while it ran, by type, and their bytes.

    Every message until the cell's idle status counts, whatever its parent header:
    the view's background refresh thread publishes under another parent (or none).
    """
    msg_id = kc.execute(code)
    counts: Counter = Counter()
    sizes: Counter = Counter()
    foreign = 0
    out = []
    started = time.perf_counter()
    deadline = time.time() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(1.0, deadline - time.time()))
        except queue.Empty:
            raise TimeoutError("the cell did not finish") from None
        kind = msg["msg_type"]
        ours = msg["parent_header"].get("msg_id") == msg_id
        if kind == "status" and ours and msg["content"]["execution_state"] == "idle":
            break
        if kind in ("status", "execute_input"):
            continue
        foreign += not ours
        counts[kind] += 1
        sizes[kind] += len(json.dumps(msg["content"], default=str)) + sum(len(b) for b in msg.get("buffers") or [])
        if kind == "stream" and ours:
            out.append(msg["content"]["text"])
        if kind == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
    return counts, sizes, "".join(out), time.perf_counter() - started, foreign


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--variants", default="throttled,unthrottled,text")
    args = parser.parse_args()

    from distributed import LocalCluster
    from jupyter_client.manager import start_new_kernel

    home = tempfile.mkdtemp(prefix="stratum-bench-")
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    env = {**os.environ, "STRATUM_SCHEDULER": cluster.scheduler_address, "STRATUM_HOME": home}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    rows = []
    try:
        counts, sizes, _, _, _ = execute(kc, SETUP.format(spec=spec(args.candidates, args.folds)))
        setup_row = {
            "variant": "once per kernel: BokehJS load",
            "messages": sum(counts.values()),
            "bytes": sum(sizes.values()),
            "by_type": dict(counts),
        }
        print(json.dumps(setup_row), flush=True)
        # warm-up: imports, the cached client, scattered data paths (not counted)
        execute(kc, RUN.format(make="view = NotebookProgress()", spec_var="WARM"))
        for name in args.variants.split(","):
            counts, sizes, out, wall, foreign = execute(kc, RUN.format(make=VARIANTS[name], spec_var="SPEC"))
            nbytes = sum(sizes.values())
            stats = eval(out.split("STATS", 1)[1].strip())  # noqa: S307 - our own printed dict
            total = sum(counts.values())
            row = {
                "variant": name,
                **stats,
                "messages": total,
                "bytes": nbytes,
                "by_type": dict(counts),
                "bytes_by_type": dict(sizes),
                "other_parent": foreign,
                "messages_per_task": total / stats["tasks"],
                "messages_per_second": total / stats["seconds"],
                "cell_seconds": wall,
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
        # displaying the result afterwards (the evaluation view): a fixed cost, whatever the task count
        counts, sizes, _, wall, _ = execute(kc, "result")
        nbytes = sum(sizes.values())
        view_row = {
            "variant": "evaluation view (display result)",
            "messages": sum(counts.values()),
            "bytes": nbytes,
            "by_type": dict(counts),
            "cell_seconds": wall,
        }
        print(json.dumps(view_row), flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        cluster.close()
    base = next((r for r in rows if r["variant"] == "unthrottled"), None)
    print(
        f"\n{'variant':<12} {'tasks':>5} {'run s':>6} {'messages':>9} {'comm_msg':>8} {'msg/task':>8} "
        f"{'msg/s':>6} {'KiB':>7} {'vs unthrottled':>14}"
    )
    for r in rows:
        ratio = f"{r['messages'] / base['messages']:.3f}" if base else "-"
        print(
            f"{r['variant']:<12} {r['tasks']:>5} {r['seconds']:>6.1f} {r['messages']:>9} "
            f"{r['by_type'].get('comm_msg', 0):>8} {r['messages_per_task']:>8.2f} {r['messages_per_second']:>6.1f} "
            f"{r['bytes'] / 1024:>7.0f} {ratio:>14}"
        )
    print(
        f"evaluation view display: {view_row['messages']} messages {view_row['by_type']}, "
        f"{view_row['bytes'] / 1024:.0f} KiB"
    )
    print(
        f"BokehJS load (once per kernel, inline): {setup_row['messages']} messages, {setup_row['bytes'] / 1024:.0f} KiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
