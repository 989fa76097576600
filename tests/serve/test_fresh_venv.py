"""The edge host's view: a new virtualenv with only the bundle's requirements, installed
from the bundle's own wheelhouse (no index), serving predictions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from _helpers import make_bundle, start_server


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_bundle_serves_from_a_fresh_venv_with_only_its_wheelhouse(registry, logreg, tmp_path):
    bundle = make_bundle(registry, logreg, tmp_path / "bundle", wheelhouse=True)
    house = bundle.path / "wheelhouse"
    assert bundle.manifest["wheelhouse"]["wheels"] and house.is_dir()
    names = {w.split("-")[0].lower() for w in bundle.manifest["wheelhouse"]["wheels"]}
    assert {"numpy", "scikit_learn", "skops", "onnxruntime", "pandas", "httptools"} <= names
    assert not any(n.startswith("jupyter") for n in names)
    assert all(f"wheelhouse/{w}" in bundle.manifest["files"] for w in bundle.manifest["wheelhouse"]["wheels"])

    venv = tmp_path / "edge-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    # no pip config (no mirror, no find-links, no constraints): the wheelhouse alone
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            str(house),
            "-r",
            str(bundle.path / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    edge_cwd = tmp_path / "elsewhere"
    edge_cwd.mkdir()
    probe = subprocess.run(
        [str(py), "-c", "import jupyter_stratum"], capture_output=True, text=True, env=env, cwd=edge_cwd
    )
    assert probe.returncode != 0 and "No module named 'jupyter_stratum'" in probe.stderr
    probe = subprocess.run([str(py), "-c", "import jupyterlab"], capture_output=True, text=True, env=env, cwd=edge_cwd)
    assert probe.returncode != 0

    server = start_server(
        [str(py), "-m", "stratum_serve", str(bundle.path), "--host", "127.0.0.1", "--port", "0"],
        env={**env, "PYTHONPATH": str(bundle.path / "runtime")},
        cwd=edge_cwd,
        timeout=120,
    )
    try:
        sample = bundle.manifest["sample"]
        status, body, _ = server.post("/predict", {"records": sample["records"]})
        assert status == 200, body
        assert body["predictions"] == sample["expected"]
        status, meta, _ = server.get("/v2/models/cancer")
        assert meta["platform"] == "onnxruntime_onnx"
    finally:
        server.stop()
