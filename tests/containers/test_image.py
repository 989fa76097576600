"""A bundle's image, built with the Docker SDK on a real dockerd, run and asked for predictions."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from _helpers import lineage_of, records_of

from jupyter_stratum.bundle.image import LABEL_PREFIX, build_image, find_in_image

TOKEN = "tok-" + "5f1d0c9a7e3b4a21"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, path: str, body: dict, token: str | None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", path, json.dumps(body), headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read() or b"null")


def _wait_healthy(container, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status", "?")
        if status in ("healthy", "unhealthy") or container.status == "exited":
            break
        time.sleep(1)
    return status


def test_image_serves_the_model_and_layers_stay_cached(
    engine, base_image, registry, logreg, logreg_bundle, cancer, tmp_path
):
    client = engine.client()
    first = build_image(logreg_bundle, base=base_image, client=client, wheel_cache=registry.root / "wheels")
    image = client.images.get(first.tag)
    config = image.attrs["Config"]
    assert first.tag == f"stratum-cancer:{logreg_bundle.manifest['version']}"
    assert config["Labels"][f"{LABEL_PREFIX}.model.name"] == "cancer"
    assert config["Labels"][f"{LABEL_PREFIX}.model.sha256"] == logreg_bundle.manifest["source"]["sha256"]
    assert config["User"] == "10001:10001"
    assert "/v2/health/ready" in " ".join(config["Healthcheck"]["Test"])

    # run it: host network on a free port, the token given at start (never built in)
    port = _free_port()
    container = client.containers.run(
        first.tag,
        ["--port", str(port)],
        detach=True,
        network_mode="host",
        environment={"STRATUM_SERVE_TOKEN": TOKEN, "STRATUM_PORT": str(port)},
    )
    try:
        assert _wait_healthy(container) == "healthy", container.logs().decode()[-2000:]
        X_test = logreg.X_test.iloc[:40]
        status, _ = _post(port, "/predict", {"records": records_of(X_test)}, token=None)
        assert status == 401
        status, body = _post(port, "/predict", {"records": records_of(X_test)}, token=TOKEN)
        assert status == 200, body
        assert body["predictions"] == logreg.model.predict(X_test).tolist()
        np.testing.assert_allclose(body["probabilities"], logreg.model.predict_proba(X_test), rtol=0, atol=1e-6)
    finally:
        container.remove(force=True)

    # a new version of the model, imaged by the CLI as a script would: only the last layer is new
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test_all, y_train, _ = cancer
    model2 = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(X_train, y_train)
    mv2 = registry.register("cancer", model2, lineage=lineage_of(model2, X_train, X_test_all, "classification", [0, 1]))
    cmd = [sys.executable, "-m", "jupyter_stratum.cli", "bundle", mv2.ref, "--image", "--base", base_image]
    cmd += ["--home", str(registry.root), "--out", str(tmp_path / "cancer-2"), "--no-tarball"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "DOCKER_HOST": engine.url})
    assert proc.returncode == 0, proc.stderr
    second = f"stratum-cancer:{mv2.version}"
    assert f"Image {second}" in proc.stdout
    cached, steps = map(int, re.search(r"steps:\s+(\d+) of (\d+) from the cache", proc.stdout).groups())
    assert cached >= 4 and steps > cached, proc.stdout
    layers1 = client.images.get(first.tag).attrs["RootFS"]["Layers"]
    layers2 = client.images.get(second).attrs["RootFS"]["Layers"]
    assert len(layers1) == len(layers2)
    assert layers1[:-1] == layers2[:-1], "only the model layer may differ between two versions"
    assert layers1[-1] != layers2[-1]

    # no secret in any layer, label or history entry (the token was only given at run time); the same scan
    # finds the runtime's own code, so it does look into every layer
    hits = find_in_image(client, first.tag, [TOKEN.encode(), b"def load_bundle("], base=base_image)
    assert hits and all("def load_bundle(" in h and "stratum_serve/" in h for h in hits), hits


def test_missing_base_image_says_how_to_get_one(engine, logreg_bundle):
    from jupyter_stratum.errors import BundleError

    with pytest.raises(BundleError, match=r"never pulls.*docker pull python:3\.11-slim|never pulls"):
        build_image(logreg_bundle, base="python:3.11-slim", client=engine.client())


def test_cli_without_docker_exits_2_and_says_what_to_do(registry, logreg, tmp_path):
    cmd = [sys.executable, "-m", "jupyter_stratum.cli", "bundle", logreg.ref, "--image", "--home", str(registry.root)]
    cmd += ["--out", str(tmp_path / "b"), "--no-tarball"]
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert "Docker does not answer" in proc.stderr and "start dockerd" in proc.stderr
