"""Where the engine's wall time goes on the benchmark's zoo: one run, read from its own events.

For each worker: the time from the run's start to its first task's start (scatter + submission),
the gaps between one task's end and the next one's start (scheduling and result gathering), its
busy time (the tasks' fit + score seconds) and its idle tail (the other worker still busy at the end).
Usage: ``.venv/bin/python benchmarks/training/profile_engine.py --rows 50000``. Timing is what this
measures, so it is a benchmark, not a test; on a loaded box read the shares, not the seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_training import ZOO, make_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    from jupyter_stratum.cluster.client import connect
    from jupyter_stratum.events import TaskFinished, TaskStarted
    from jupyter_stratum.training import train

    client = connect(None, n_workers=2)
    frame = make_data(args.rows)
    train(ZOO, client=client, user_ns={"bench": frame.head(2000)}, register=False)  # warm the workers (imports)
    marks: list[tuple[float, object]] = []
    start = time.perf_counter()
    result = train(
        ZOO,
        client=client,
        user_ns={"bench": frame},
        register=False,
        on_event=lambda e: marks.append((time.perf_counter(), e)),
    )
    wall = time.perf_counter() - start
    cv_end = max(t for t, e in marks if isinstance(e, TaskFinished))
    by_worker: dict[str, list] = {}
    starts = {e.key: t for t, e in marks if isinstance(e, TaskStarted)}
    for t, e in marks:
        if isinstance(e, TaskFinished):
            by_worker.setdefault(e.worker, []).append((starts.get(e.key, t), t, e))
    busy_total = sum(f.fit_seconds + f.score_seconds for c in result.candidates for f in c.folds)
    print(
        f"rows {args.rows}: whole train() {wall:.2f} s; CV phase (start to last task seen done) {cv_end - start:.2f} s"
    )
    print(f"tasks' own fit+score seconds: {busy_total:.2f} (ideal CV wall on 2 workers {busy_total / 2:.2f} s)")
    for worker, items in sorted(by_worker.items()):
        items.sort(key=lambda x: x[0])
        first = items[0][0] - start
        gaps = sum(max(0.0, b[0] - a[1]) for a, b in zip(items, items[1:]))
        tail = cv_end - items[-1][1]
        seen = sum(b - a for a, b, _ in items)
        print(
            f"  {worker}: {len(items)} tasks; before first start {first:.2f} s; between tasks {gaps:.2f} s; "
            f"tasks as seen by the client {seen:.2f} s; idle tail {tail:.2f} s"
        )


if __name__ == "__main__":
    main()
