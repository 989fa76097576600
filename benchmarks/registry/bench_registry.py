"""Registry timings: register a 1 MB and a 100 MB model, load them, list 1,000 versions, on the
embedded SQLite registry, the team registry used directly (PostgreSQL + an artifact directory) and
through the stratum-registry JupyterHub service (hub, proxy and service on this machine), and with
``--mlflow PYTHON`` on MLflow's tracking server in MLflow's own environment (``mlflow_side.py``).

    .venv/bin/python benchmarks/registry/bench_registry.py [--repeat 3] [--sizes 1,100] [--json OUT]
        [--mlflow /tmp/mlflow/bin/python]   # python3 -m venv /tmp/mlflow && /tmp/mlflow/bin/pip install mlflow skops

Real parts only (LocalPostgres, LocalTeamHub). The median of --repeat runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def model_of(megabytes: int):
    """A fitted LinearRegression whose coefficients take ``megabytes`` MB (skops stores the array)."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    n = megabytes * (1 << 20) // 8
    model.coef_ = np.random.default_rng(0).random(n)
    model.n_features_in_ = n
    return model


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def fill_versions(index, name: str, template: dict, n: int) -> None:
    """``n`` versions of ``name`` written straight into the index (listing is what is measured)."""
    for _ in range(n):
        index.add_version(
            name, lambda v: {**template, "name": name, "version": v, "artifact": f"x/{name}/{v}"}, lambda r: None
        )


def bench(label: str, registry, fill_index, sizes: list[int], repeat: int, cold=lambda: None) -> dict:
    """``cold()`` runs before every load (the service's client drops its download cache: every load downloads)."""
    out: dict = {"backend": label}
    for mb in sizes:
        model = model_of(mb)
        t_reg, mv = timed(lambda m=model, s=mb: registry.register(f"bench-{s}mb", m, lineage={}), repeat)
        t_load, _ = timed(lambda s=mb: (cold(), registry.load(f"bench-{s}mb")), repeat)
        out[f"register_{mb}mb_s"], out[f"load_{mb}mb_s"] = round(t_reg, 3), round(t_load, 3)
        print(f"{label:>10}  {mb:>4} MB  register {t_reg:7.3f} s   load {t_load:7.3f} s", flush=True)
    small = registry.register("bench-list", model_of(0), lineage={})
    template = {k: v for k, v in small.to_dict().items() if k not in ("name", "version", "artifact")}
    fill_versions(fill_index, "bench-list", template, 999)
    t_list, found = timed(lambda: registry.versions("bench-list"), repeat)
    assert len(found) == 1000, len(found)
    out["list_1000_s"] = round(t_list, 3)
    print(f"{label:>10}  list 1,000 versions {t_list:7.3f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="1,100", help="model sizes in MB")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--backends", default="sqlite,postgres,service")
    ap.add_argument("--mlflow", metavar="PYTHON", help="also MLflow's tracking server, with this interpreter")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    backends = a.backends.split(",")
    from jupyter_stratum.registry import open_registry
    from jupyter_stratum.team import open_team_registry
    from jupyter_stratum.team.client import open_service_registry
    from jupyter_stratum.team.pg_index import PostgresIndex
    from jupyter_stratum.testing.postgres import LocalPostgres
    from jupyter_stratum.testing.team_hub import LocalTeamHub

    results = []
    with tempfile.TemporaryDirectory() as tmp, LocalPostgres() as pg:
        if "sqlite" in backends:
            reg = open_registry(Path(tmp) / "sqlite")
            results.append(bench("sqlite", reg, reg.index, sizes, a.repeat))
        if "postgres" in backends:
            reg = open_team_registry(pg.dsn, str(Path(tmp) / "pg-artifacts"), Path(tmp) / "pg-cache")
            results.append(bench("postgres", reg, reg.index, sizes, a.repeat))
        if "service" in backends:
            with LocalTeamHub({"team-bench": ["bob"], "team-bench-trainers": ["bob"]}, postgres=pg) as hub:
                os.environ["STRATUM_HOME"] = str(Path(tmp) / "client")
                reg = open_service_registry(hub.service_url, hub.token_for("bob"))
                dsn = json.loads((hub.workdir / "settings.json").read_text())["dsn"]
                downloads = Path(tmp) / "client" / "service-cache" / "downloads"
                cold = lambda: shutil.rmtree(downloads, ignore_errors=True)  # noqa: E731
                results.append(bench("service", reg, PostgresIndex(dsn), sizes, a.repeat, cold))
    if a.mlflow:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from peer_side import run_side

        side = Path(__file__).with_name("mlflow_side.py")
        results.append(run_side(a.mlflow, side, "--sizes", a.sizes, "--repeat", str(a.repeat)))
    print(json.dumps(results, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
