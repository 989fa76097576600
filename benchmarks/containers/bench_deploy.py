"""Deploy figures of the docker runtime beside the process runtime: first deploy, model-only update
(bytes sent to the host, seconds), rollback, unchanged re-run.

    sudo .venv/bin/python benchmarks/containers/bench_deploy.py [--json OUT]

Real parts: one edge host (a network namespace with sshd, reached over SSH by the generated Ansible
project) running its own dockerd in its namespace (own data root, no route out); the controller's
images are built on a second private dockerd from the Debian base image of
``jupyter_stratum.bundle.base_image``. The same two model versions go through both runtimes on the
same host (the process runtime on port 8500, the docker runtime on 8600). Bytes sent: the bundle
tarball for the process runtime; for the docker runtime the image archive less the layers the host
already had (what the role copies). Where Debian's docker-registry is installed, a third row deploys the
same way through a local registry (``stratum_registry``: the controller pushes, the host pulls; first
deploy and update seconds include the push).
"""

from __future__ import annotations

import argparse
import json
import site
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
IMAGE_CACHE = Path.home() / ".cache" / "jupyter-stratum" / "images"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the raw figures here")
    a = ap.parse_args()

    import os

    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_stratum.bundle.base_image import ensure_base_image
    from jupyter_stratum.deploy import core
    from jupyter_stratum.deploy.docker_image import slim_archive
    from jupyter_stratum.registry import Registry
    from jupyter_stratum.testing import LocalEdgeHosts, bundle_lineage
    from jupyter_stratum.testing.dockerd import LocalDockerd, LocalRegistry, registry_support

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0)
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dep-", dir="/tmp") as tmp:
        tmp_path = Path(tmp)
        hosts = LocalEdgeHosts(1, tmp_path / "edge").start()
        nets = ("10.77.0.0/16",)  # the edge links: the registry answers there over plain HTTP
        controller = LocalDockerd(tmp_path / "dk", insecure_registries=nets).start()
        host_engine = LocalDockerd(
            Path(hosts.hosts[0].root) / "dk", namespace=hosts.hosts[0].namespace, insecure_registries=nets
        ).start()
        image_registry = LocalRegistry(tmp_path / "reg").start() if registry_support()[0] else None
        os.environ["DOCKER_HOST"] = controller.url
        try:
            base = ensure_base_image(controller.client(), cache=IMAGE_CACHE)
            reg = Registry(tmp_path / "registry")
            for name in ("procmodel", "dockmodel", "regmodel"):
                for c in (1.0, 0.1):
                    m = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(X_train, y_train)
                    reg.register(name, m, lineage=bundle_lineage(m, X_train, X_test.head(5)))
            site_dirs = "[" + ", ".join(p for p in site.getsitepackages() if Path(p).is_dir()) + "]"
            inv_p = hosts.write_inventory(
                tmp_path / "p.ini", python=sys.executable, group_vars={"stratum_site_dirs": site_dirs}
            )
            inv_d = hosts.write_inventory(
                tmp_path / "d.ini",
                python=sys.executable,
                host_vars={"edge1": {"stratum_port": 8600, "stratum_docker_host": host_engine.url}},
            )
            # the controller builds the images first (build time is bench_image.py's figure)
            from jupyter_stratum.deploy.docker_image import image_vars

            for v in (1, 2):
                for model in ("dockmodel", "regmodel"):
                    image_vars(reg, core._bundle_for(reg, f"{model}@{v}", None), base=base)

            runs = [("process", "procmodel", inv_p, {}), ("docker", "dockmodel", inv_d, {"runtime": "docker"})]
            if image_registry is not None:
                gateway = hosts.hosts[0].address.rsplit(".", 1)[0] + ".1"
                inv_r = hosts.write_inventory(
                    tmp_path / "r.ini",
                    python=sys.executable,
                    host_vars={
                        "edge1": {
                            "stratum_port": 8700,
                            "stratum_docker_host": host_engine.url,
                            "stratum_registry": f"{gateway}:{image_registry.port}",
                        }
                    },
                )
                runs.append(("docker_registry", "regmodel", inv_r, {"runtime": "docker"}))
            for rt, model, inv, extra in runs:
                figs = rows.setdefault(rt, {})
                t = time.perf_counter()
                r = core.deploy(f"{model}@1", inv, registry=reg, **extra)
                figs["first_deploy_s"] = round(time.perf_counter() - t, 1)
                assert r.status == "ok", r.to_text()
                t = time.perf_counter()
                r = core.deploy(f"{model}@1", inv, registry=reg, **extra)
                figs["unchanged_rerun_s"] = round(time.perf_counter() - t, 1)
                assert r.status == "ok" and not r.changed, r.to_text()
                if rt == "docker":
                    have = [img.attrs["RootFS"]["Layers"] for img in host_engine.client().images.list(all=True)]
                    full = Path(
                        image_vars(reg, core._bundle_for(reg, f"{model}@2", None), base=base)["stratum_image_archive"]
                    )
                    slim = slim_archive(full, have, tmp_path / "slim.tar")
                    figs["update_bytes_sent"] = slim["bytes"]
                    figs["update_bytes_full_image"] = slim["bytes_full"]
                    figs["update_layers_sent"] = slim["layers_sent"]
                t = time.perf_counter()
                r = core.deploy(f"{model}@2", inv, registry=reg, **extra)
                figs["model_only_update_s"] = round(time.perf_counter() - t, 1)
                assert r.status == "ok", r.to_text()
                if rt == "process":
                    tarball = next((Path(r.project) / "files").glob(f"{model}-v2-*.tar.gz"))
                    figs["update_bytes_sent"] = tarball.stat().st_size
                t = time.perf_counter()
                r = core.rollback(model, inv, registry=reg)
                figs["rollback_s"] = round(time.perf_counter() - t, 1)
                assert r.status == "ok", r.to_text()
                core.undeploy(model, inv, registry=reg)
        finally:
            if image_registry is not None:
                image_registry.stop()
            host_engine.stop()
            controller.stop()
            hosts.stop()
    print(json.dumps(rows, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
