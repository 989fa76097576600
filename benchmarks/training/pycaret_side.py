"""PyCaret's side of the training benchmark, run by ``bench_training.py --pycaret PYTHON`` in PyCaret's own
environment (PyCaret 3.3 needs scikit-learn < 1.5, numpy < 1.27, pandas < 2.2: it can't share the project's).

The same data (``make_classification`` as in ``bench_training.make_data``), the same holdout split and
training rows (``train_test_split(test_size=0.2, random_state=0, stratify=y)``), the same folds
(``StratifiedKFold(5, shuffle=True, random_state=0)`` on the training rows), the same models and
parameters as the zoo, standard scaling; ``compare_models`` with ``n_jobs=2``, no tuning, no turbo choices.
Prints one JSON line: setup and compare_models wall seconds per repeat.

    PYTHON benchmarks/training/pycaret_side.py --rows 50000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd


def make_data(rows: int) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=rows, n_features=20, n_informative=10, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y
    return frame


def zoo():
    from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    return [
        LogisticRegression(C=0.1, solver="saga", max_iter=25, tol=0.0, random_state=0),
        LogisticRegression(C=1.0, solver="saga", max_iter=25, tol=0.0, random_state=0),
        RandomForestClassifier(n_estimators=12, max_depth=12, random_state=0),
        ExtraTreesClassifier(n_estimators=16, max_depth=14, random_state=0),
        DecisionTreeClassifier(max_depth=12, random_state=0),
        DecisionTreeClassifier(max_depth=20, random_state=0),
        GradientBoostingClassifier(n_estimators=12, max_depth=3, random_state=0),
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=15, tol=0.0, random_state=0),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import pycaret
    from pycaret.classification import ClassificationExperiment
    from sklearn.model_selection import StratifiedKFold, train_test_split

    frame = make_data(args.rows)
    train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=frame["y"])
    out = {"pycaret": pycaret.__version__, "setup_s": [], "compare_s": [], "scores": None}
    for _ in range(args.repeats):
        start = time.perf_counter()
        exp = ClassificationExperiment()
        exp.setup(
            data=train,
            test_data=test,
            target="y",
            normalize=True,
            fold_strategy=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
            fold_shuffle=True,
            session_id=0,
            n_jobs=2,
            html=False,
            verbose=False,
            system_log=False,
        )
        out["setup_s"].append(time.perf_counter() - start)
        start = time.perf_counter()
        exp.compare_models(include=zoo(), n_select=len(zoo()), sort="Accuracy", turbo=False, verbose=False)
        out["compare_s"].append(time.perf_counter() - start)
        grid = exp.pull()
        out["scores"] = {str(i): float(a) for i, a in zip(grid["Model"], grid["Accuracy"])}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
