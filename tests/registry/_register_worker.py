"""Run as a separate process by test_concurrency.py: wait for a start signal, then
register N versions of one model name as fast as possible."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(root: str, name: str, n: int, worker: str, go_file: str, hang_after_move: bool = False) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    from jupyter_stratum.registry import LocalArtifactStore, open_registry

    # hold the write lock a little longer (the move happens inside the transaction), so that
    # the other process really has to wait for it
    publish = LocalArtifactStore.publish

    def slow_publish(self, staged, key):
        time.sleep(0.02)
        publish(self, staged, key)
        if hang_after_move:  # file in place, row inserted, not committed: the test kills us here
            Path(go_file + f".moved-{worker}").touch()
            time.sleep(120)

    LocalArtifactStore.publish = slow_publish

    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    registry = open_registry(root)
    Path(go_file + f".ready-{worker}").touch()
    deadline = time.monotonic() + 60
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            sys.exit("no start signal")
        time.sleep(0.005)
    print("start", time.time(), flush=True)
    for i in range(n):
        mv = registry.register(name, model, lineage={"worker": worker, "i": i})
        print("version", mv.version, flush=True)
    print("end", time.time(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], "--hang-after-move" in sys.argv)
