"""Run as a separate process by test_pg_registry.py: wait for a start signal, then register N
versions of one model into the team registry (PostgreSQL + fsspec). With ``--hang-mid-upload`` the
upload writes half the file and stops, so that the test can kill the process there."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(dsn: str, artifacts: str, cache: str, name: str, n: int, worker: str, go: str, hang: bool) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    from jupyter_stratum.team import open_team_registry

    registry = open_team_registry(dsn, artifacts, cache)
    if hang:
        fs = registry.store.fs  # type: ignore[attr-defined]

        def half_put(local, remote, **kwargs):
            data = Path(local).read_bytes()
            with fs.open(remote, "wb") as fh:
                fh.write(data[: len(data) // 2])
                fh.flush()
                Path(f"{go}.uploading-{worker}").touch()
                time.sleep(300)  # the test kills us here, mid-upload, inside the index transaction

        fs.put = half_put
    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    Path(f"{go}.ready-{worker}").touch()
    deadline = time.monotonic() + 120
    while not Path(go).exists():
        if time.monotonic() > deadline:
            sys.exit("no start signal")
        time.sleep(0.005)
    for i in range(n):
        mv = registry.register(name, model, lineage={"worker": worker, "i": i})
        print("version", mv.version, flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[2], args[3], int(args[4]), args[5], args[6], "--hang-mid-upload" in args)
