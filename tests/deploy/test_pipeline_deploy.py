"""A registered inference pipeline deployed to a real edge host (network namespace + sshd) with
``stratum deploy PIPELINE@V --edge INVENTORY``: the host serves it as one OIP model, with the number of
serving processes its inventory asks for (``stratum_workers``), and its answers equal composing the
registered models in Python on the same rows."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from jupyter_stratum.commands import CommandContext, parse, run
from jupyter_stratum.testing import bundle_lineage, http_json, port_open, wait_closed

pytestmark = [pytest.mark.netns, pytest.mark.slow]

CASCADE = """\
inputs: {from: screen@1}
steps:
  - screen: {model: screen@1}
  - route:  {switch: "screen.score > 0.8", then: deep, else: fast}
  - deep:   {model: deep@1}
  - fast:   {model: fast@1}
output: route
"""
#: a port of its own: the other deploy tests serve on edge1's 8500
PORT = 8610


def stratum(*argv: str):
    with redirect_stdout(io.StringIO()):
        return run(parse(list(argv)), CommandContext(interactive=False))


@pytest.fixture(scope="module")
def trio(tmp_path_factory, cancer):
    """A registry with three models (a screen, a forest, a strong LR) and the cascade over them."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jupyter_stratum.registry import open_registry

    X_train, X_test, y_train, _ = cancer
    home = tmp_path_factory.mktemp("pipeline-home")
    reg = open_registry(home)
    fitted = {}
    for name, model in [
        ("screen", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
        ("deep", RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1)),
        ("fast", make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))),
    ]:
        fitted[name] = model.fit(X_train, y_train)
        reg.register(name, model, lineage=bundle_lineage(model, X_train, X_test.head(5)))
    spec = home / "cascade.yaml"
    spec.write_text(CASCADE)
    shown = stratum("pipeline", str(spec), "--name", "cascade", "--home", str(home))
    return reg, f"cascade@{shown.version}", fitted, X_test


def test_pipeline_bundle_deploys_to_an_edge_host_and_answers_as_the_models_composed(
    edge_hosts, trio, write_inventory, tmp_path
):
    reg, ref, fitted, X = trio
    host = edge_hosts.hosts[0]
    inv = write_inventory(
        edge_hosts,
        tmp_path / "edge.ini",
        host_vars={
            host.name: {"stratum_port": PORT, "stratum_workers": 2, "stratum_serve_args": f"--grpc-port {PORT + 1}"}
        },
    )
    res = stratum("deploy", ref, "--edge", str(inv), "--limit", host.name, "--home", str(reg.root))
    try:
        assert res.status == "ok", res.to_text()
        url = f"http://{host.address}:{PORT}"

        # the host serves the pipeline as one OIP model; its answers are the models composed in Python
        body = {"inputs": [{"name": c, "shape": [len(X)], "datatype": "FP64", "data": X[c].tolist()} for c in X]}
        answer = http_json(f"{url}/v2/models/cascade/infer", body)
        out = {o["name"]: o for o in answer["outputs"]}
        confident = fitted["screen"].predict_proba(X)[:, 1] > 0.8
        assert 0 < confident.sum() < len(X)  # both branches take rows
        labels = np.where(confident, fitted["deep"].predict(X), fitted["fast"].predict(X))
        proba = np.where(confident[:, None], fitted["deep"].predict_proba(X), fitted["fast"].predict_proba(X))
        assert out["predict"]["data"] == labels.tolist()
        got = np.asarray(out["predict_proba"]["data"]).reshape(len(X), -1)
        assert np.abs(got - proba).max() <= 1e-6

        # gRPC asked for in the inventory: the bundle pins grpcio and protobuf, and the host answers over gRPC
        import tritonclient.grpc as grpcclient

        release = (Path(host.root) / "models" / "cascade" / "current").resolve()
        pins = (release / "requirements.txt").read_text()
        assert "grpcio==" in pins and "protobuf==" in pins, pins
        client = grpcclient.InferenceServerClient(f"{host.address}:{PORT + 1}")
        inputs = []
        for c in X:
            tensor = grpcclient.InferInput(c, [len(X)], "FP64")
            tensor.set_data_from_numpy(X[c].to_numpy(dtype=np.float64))
            inputs.append(tensor)
        assert client.infer("cascade", inputs).as_numpy("predict").tolist() == labels.tolist()

        # stratum_workers=2 reached the runtime's --workers
        log = Path(host.root) / "models" / "cascade" / "log" / "serve.log"
        assert "(2 workers)" in log.read_text(), log.read_text()[-2000:]
    finally:
        stratum("undeploy", "cascade", "--edge", str(inv), "--limit", host.name, "--home", str(reg.root))
    assert wait_closed(host.address, PORT) and not port_open(host.address, PORT)
