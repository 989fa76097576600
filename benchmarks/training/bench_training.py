"""Training throughput: stratum on the embedded Dask cluster vs a sequential loop vs joblib (loky).

Same zoo, same folds, same per-task work (jupyter_stratum.fold_task.fit_fold), one run:

    .venv/bin/python benchmarks/training/bench_training.py [--rows 50000] [--repeats 3] [--pycaret PYTHON]

With ``--pycaret``, each round also times PyCaret's ``setup`` + ``compare_models`` on the same data, folds and
models in PyCaret's own environment (it pins scikit-learn < 1.5), e.g.
``python3 -m venv /tmp/pycaret && /tmp/pycaret/bin/pip install pycaret six`` (six: scikit-plot imports it
without declaring it), then ``--pycaret /tmp/pycaret/bin/python``.

Reports wall seconds (median of repeats), parallel efficiency
(sequential ÷ (wall × cores)) and the ratio to joblib. Writes RESULTS.md beside this file
when --write is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ZOO = """\
data: bench
target: y
split: {test_size: 0.2, cv: 5, seed: 0}
preprocess: [standard_scaler]
models:
  - logistic_regression: {C: [0.1, 1.0], solver: saga, max_iter: 25, tol: 0.0}
  - random_forest: {n_estimators: 12, max_depth: 12}
  - extra_trees: {n_estimators: 16, max_depth: 14}
  - decision_tree: {max_depth: [12, 20]}
  - gradient_boosting: {n_estimators: 12, max_depth: 3}
  - mlp: {hidden_layer_sizes: [32], max_iter: 15, tol: 0.0}
metric: accuracy
metrics: [accuracy, f1, roc_auc]
"""


def make_data(rows: int) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y
    return frame


def jobs_for(plan, dataset, splits):
    from jupyter_stratum.training.estimator import FeatureTypes
    from jupyter_stratum.training.fold import FoldJob

    X = dataset.X.iloc[splits.train]
    y = dataset.y.iloc[splits.train]
    features = FeatureTypes.of(X)
    jobs = []
    for i, c in enumerate(plan.candidates):
        for fold, (tr, te) in enumerate(splits.folds):
            jobs.append(
                (
                    FoldJob(
                        f"b-{i}-{fold}",
                        c.id,
                        c.algorithm,
                        c.params,
                        tuple(plan.preprocess),
                        features,
                        plan.task,
                        tuple(plan.metrics),
                        2,
                        fold,
                    ),
                    tr,
                    te,
                )
            )
    return X, y, jobs


def run_sequential(X, y, jobs):
    from threadpoolctl import threadpool_limits

    from jupyter_stratum.training.fold import fit_fold

    with threadpool_limits(1):
        start = time.perf_counter()
        results = [fit_fold(job, X, y, tr, te) for job, tr, te in jobs]
        return time.perf_counter() - start, results


def run_joblib(X, y, jobs, cores):
    from joblib import Parallel, delayed

    from jupyter_stratum.training.fold import fit_fold

    with Parallel(n_jobs=cores, backend="loky") as parallel:
        parallel(delayed(abs)(i) for i in range(cores))  # warm the pool
        start = time.perf_counter()
        results = parallel(delayed(fit_fold)(job, X, y, tr, te) for job, tr, te in jobs)
        return time.perf_counter() - start, results


def run_stratum(frame, client):
    from jupyter_stratum.training import train

    start = time.perf_counter()
    result = train(ZOO, client=client, user_ns={"bench": frame}, register=False)
    return time.perf_counter() - start, result


def run_pycaret(python: str, rows: int) -> dict:
    """One PyCaret run in its own interpreter: {"pycaret", "setup_s", "compare_s", "scores"}."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from peer_side import run_side

    return run_side(python, Path(__file__).with_name("pycaret_side.py"), "--rows", str(rows), "--repeats", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write RESULTS.md")
    parser.add_argument(
        "--pycaret",
        metavar="PYTHON",
        help="also time PyCaret's compare_models on the same data, folds and models, with this interpreter "
        "(PyCaret's own environment: pycaret_side.py), one run per round",
    )
    args = parser.parse_args()

    from jupyter_stratum.cluster import connect
    from jupyter_stratum.training import prepare
    from jupyter_stratum.training.plan import make_splits

    cores = os.cpu_count() or 1
    frame = make_data(args.rows)
    spec, dataset, plan = prepare(ZOO, user_ns={"bench": frame})
    splits = make_splits(dataset.y, spec.split, plan.task)
    X, y, jobs = jobs_for(plan, dataset, splits)

    t0 = time.perf_counter()
    client = connect(None, n_workers=cores)
    cluster_start = time.perf_counter() - t0
    run_stratum(frame.head(2000), client)  # warm the workers (imports)

    seq, par, dask, total, caret = [], [], [], [], []
    caret_runs = []
    per_task = None
    for r in range(args.repeats):
        s, results = run_sequential(X, y, jobs)
        seq.append(s)
        per_task = [res.fit_seconds for res in results]
        j, _ = run_joblib(X, y, jobs, cores)
        par.append(j)
        d, result = run_stratum(frame, client)
        cv = next(e.seconds for e in result.events if e.kind == "RunFinished")
        dask.append(cv)
        total.append(d)
        if args.pycaret:
            caret_runs.append(run_pycaret(args.pycaret, args.rows))
            caret.append(caret_runs[-1]["setup_s"][0] + caret_runs[-1]["compare_s"][0])
        print(
            f"round {r + 1}: sequential {s:.2f} s, joblib {j:.2f} s, stratum CV {cv:.2f} s (whole train() {d:.2f} s)"
            + (f", PyCaret setup + compare_models {caret[-1]:.2f} s" if caret else ""),
            flush=True,
        )
    # the refit of the winner and the holdout scoring are part of stratum's wall; time them apart too
    refit = next(e.seconds for e in result.events if e.kind == "RefitFinished")
    ms, mj, md = statistics.median(seq), statistics.median(par), statistics.median(dask)
    lines = [
        f"# Training benchmark ({args.rows} rows, {len(plan.candidates)} candidates × {plan.n_folds} folds = {len(jobs)} tasks, {cores} cores)",
        "",
        f"Command: `.venv/bin/python benchmarks/training/bench_training.py --rows {args.rows} --repeats {args.repeats}`",
        "",
        f"- per-task fit seconds: min {min(per_task):.2f}, median {statistics.median(per_task):.2f}, max {max(per_task):.2f}",
        "- per candidate (median fit s over folds): "
        + ", ".join(f"{c.id} {statistics.median(f.fit_seconds for f in c.folds):.2f}" for c in result.candidates),
        f"- embedded cluster start: {cluster_start:.2f} s (once per kernel; not in the figures below)",
        f"- sequential loop (1 core): median {ms:.2f} s",
        f"- joblib loky ({cores} workers): median {mj:.2f} s → efficiency {ms / (mj * cores):.3f}",
        f"- stratum on the embedded Dask cluster ({cores} workers; the CV phase: scatter + {len(jobs)} tasks + gathering, "
        f"as in the baselines): median {md:.2f} s → efficiency {ms / (md * cores):.3f}",
        f"- stratum's whole train() (plan + CV + refit of the winner {refit:.2f} s + holdout scoring; "
        f"the baselines do no refit): median {statistics.median(total):.2f} s",
        f"- stratum ÷ joblib wall: {md / mj:.3f} (ratio of medians)",
        f"- stratum ÷ joblib, paired by round (same machine state): "
        f"{', '.join(f'{d / j:.3f}' for d, j in zip(dask, par))} → median {statistics.median(d / j for d, j in zip(dask, par)):.3f}",
        "",
        "| round | sequential s | joblib s | stratum CV s | whole train() s |",
        "|---|---|---|---|---|",
        *(
            f"| {i + 1} | {s:.2f} | {j:.2f} | {d:.2f} | {t:.2f} |"
            for i, (s, j, d, t) in enumerate(zip(seq, par, dask, total))
        ),
    ]
    if caret:
        mt = statistics.median(total)
        lines += [
            "",
            f"PyCaret {caret_runs[-1]['pycaret']} `setup` + `compare_models` (its own environment, "
            "`benchmarks/training/pycaret_side.py`; same data, holdout split, folds and models, n_jobs=2): "
            f"{', '.join(f'{c:.2f}' for c in caret)} s per round, median {statistics.median(caret):.2f} s; "
            f"stratum's whole train() is **{statistics.median(caret) / mt:.2f}x faster** (paired by round: "
            f"{', '.join(f'{c / t:.2f}' for c, t in zip(caret, total))}). PyCaret's accuracies: "
            + ", ".join(f"{k} {v:.4f}" for k, v in (caret_runs[-1]["scores"] or {}).items()),
        ]
    print("\n".join(lines))
    if args.write:
        (Path(__file__).parent / "RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
