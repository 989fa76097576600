"""Image figures: size, cold build, build of a new model version on cached layers, beside the bundle.

    sudo .venv/bin/python benchmarks/containers/bench_image.py [--repeat 3] [--json OUT]

Real parts: a private dockerd (its own data root, started here), the Debian base image from
``jupyter_stratum.bundle.base_image`` (loaded from its cache, built once otherwise), bundles
built by the real builder from registered scikit-learn pipelines. "Cold" removes every image
but the base first, so the venv layer is rebuilt; "model-only" builds version N+1 of the same
model, whose requirements are unchanged. The process runtime's counterpart of an image is the
bundle's tarball (what a process-runtime deploy copies for a model-only update).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
IMAGE_CACHE = Path.home() / ".cache" / "jupyter-stratum" / "images"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    ap.add_argument("--json", help="write the raw figures here")
    a = ap.parse_args()

    import os

    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_stratum.bundle import build_bundle
    from jupyter_stratum.bundle.base_image import ensure_base_image
    from jupyter_stratum.bundle.image import build_image
    from jupyter_stratum.registry import Registry
    from jupyter_stratum.testing.dockerd import LocalDockerd

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0)
    rows: dict[str, list[float]] = {"cold_s": [], "model_only_s": [], "model_only_cached_steps": []}
    with tempfile.TemporaryDirectory(prefix="bench-img-", dir="/tmp") as tmp, LocalDockerd(Path(tmp) / "dk") as dockerd:
        client = dockerd.client()
        t = time.perf_counter()
        base = ensure_base_image(client, cache=IMAGE_CACHE)
        base_load_s = time.perf_counter() - t
        registry = Registry(Path(tmp) / "registry")
        wheels = Path(tmp) / "wheels"
        sizes = {}
        for i in range(a.repeat):
            for img in client.images.list():
                if base not in img.tags:
                    client.images.remove(img.id, force=True)
            client.api.prune_builds() if hasattr(client.api, "prune_builds") else None
            refs = []
            for c in (1.0, 0.1):
                model = make_pipeline(StandardScaler(), LogisticRegression(C=c / (i + 1), max_iter=2000))
                model.fit(X_train, y_train)
                schema = {"columns": [{"name": c, "dtype": "float64"} for c in X.columns]}
                mv = registry.register(
                    "cancer",
                    model,
                    lineage={
                        "task": "classification",
                        "input_schema": schema,
                        "classes": [0, 1],
                        "sample": {"records": X_test.iloc[:5].to_dict(orient="records")},
                    },
                )
                refs.append(build_bundle(mv.ref, Path(tmp) / f"b-{mv.version}", registry=registry, force=True))
            cold = build_image(refs[0], base=base, client=client, wheel_cache=wheels)
            warm = build_image(refs[1], base=base, client=client, wheel_cache=wheels)
            rows["cold_s"].append(cold.seconds)
            rows["model_only_s"].append(warm.seconds)
            rows["model_only_cached_steps"].append(warm.steps_cached)
            log_head = [line for line in "".join(warm.log).splitlines() if line.startswith(("Step", " ---> Using"))]
            layers = client.images.get(warm.tag).history()
            sizes = {
                "image_mb": cold.size_bytes / 1e6,
                "base_mb": client.images.get(base).attrs["Size"] / 1e6,
                "last_layer_mb": next((h["Size"] for h in layers if h["Size"] > 0), 0) / 1e6,
                "bundle_tarball_mb": os.path.getsize(refs[1].tarball) / 1e6 if refs[1].tarball else 0.0,
            }
    result = {
        "repeat": a.repeat,
        "load_before": os.getloadavg(),
        "base_load_or_build_s": base_load_s,
        **sizes,
        **{k + "_median": statistics.median(v) for k, v in rows.items()},
        "raw": rows,
        "model_only_log": log_head,
    }
    print(json.dumps(result, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
