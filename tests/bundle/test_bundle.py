"""The bundle as the deploy side sees it: files, manifest contract, hashes, tarball, CLI."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tarfile

import pytest
from _helpers import REPO, make_bundle, serve_cmd, start_server

from jupyter_stratum.errors import BundleError
from jupyter_stratum.serve.manifest import sha256_file

CONTRACT_KEYS = {"name", "version", "task", "input_schema", "classes", "sample", "requirements", "files", "onnx"}
# threadpoolctl comes with scikit-learn (one of its own requirements); httptools parses HTTP/1.1
RUNTIME_ALLOWED_IMPORTS = {"numpy", "pandas", "sklearn", "skops", "onnxruntime", "threadpoolctl", "httptools"}
# Keras bundles only: imported inside functions of keras_backend.py, never at module level
RUNTIME_KERAS_IMPORTS = {"tensorflow", "keras"}


def test_bundle_layout_and_manifest_contract(logreg_bundle, logreg):
    b = logreg_bundle
    m = b.manifest
    assert CONTRACT_KEYS <= set(m)
    assert json.loads((b.path / "manifest.json").read_text()) == m
    assert (m["name"], m["version"], m["task"]) == ("cancer", "1", "classification")
    assert m["classes"] == [0, 1]
    assert [c["name"] for c in m["input_schema"]["columns"]] == list(logreg.X_test.columns)
    for rel in (
        "requirements.txt",
        "README.md",
        "Dockerfile",
        "model/model.skops",
        "runtime/stratum_serve/__main__.py",
        "runtime/stratum_serve/app.py",
    ):
        assert (b.path / rel).is_file(), rel
        assert rel in m["files"]
    # every listed file has the sha256 the manifest says; nothing unlisted but the manifest
    on_disk = {p.relative_to(b.path).as_posix() for p in b.path.rglob("*") if p.is_file()}
    assert on_disk - set(m["files"]) == {"manifest.json"}
    for rel, digest in m["files"].items():
        assert sha256_file(b.path / rel) == digest, rel
    # the model file is byte for byte the registry's artifact
    assert m["model"]["sha256"] == m["source"]["sha256"]
    # requirements pinned to the training versions
    reqs = (b.path / "requirements.txt").read_text().split()
    pins = dict(r.split("==") for r in reqs if not r.startswith("#") and "==" in r)
    assert pins["scikit-learn"] == m["library_versions"]["scikit-learn"]
    assert pins["numpy"] == m["library_versions"]["numpy"]
    assert set(m["requirements"]) == {f"{k}=={v}" for k, v in pins.items()}
    assert "onnxruntime" in pins  # the fast path is available for a logistic regression
    assert "httptools" in pins  # the runtime's HTTP parser, installed with the bundle
    assert m["model"]["predict_from_proba"] is True  # LogisticRegression: predict = argmax(predict_proba)
    # sample: the registry's holdout rows, expected = the model's own predictions
    assert m["sample"]["source"] == "holdout"
    import pandas as pd

    frame = pd.DataFrame(m["sample"]["records"])[list(logreg.X_test.columns)]
    assert m["sample"]["expected"] == logreg.model.predict(frame).tolist()
    # operator docs state the start command and the contract
    readme = (b.path / "README.md").read_text()
    assert "python -m stratum_serve" in readme and "/v2/health/ready" in readme and "manifest.json" in readme
    assert 'CMD ["python", "-m", "stratum_serve"' in (b.path / "Dockerfile").read_text()


def test_onnx_copy_is_exact_and_recorded(logreg_bundle, logreg):
    onnx = logreg_bundle.manifest["onnx"]
    assert onnx["available"] is True, onnx["reason"]
    assert (logreg_bundle.path / onnx["path"]).is_file()
    assert onnx["rows_checked"] >= 5 and onnx["max_abs_diff"] <= 1e-5
    # independent check with onnxruntime itself against predict_proba on the whole holdout
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(logreg_bundle.path / onnx["path"]), providers=["CPUExecutionProvider"])
    X = logreg.X_test.to_numpy(dtype=np.float64 if onnx["input_type"] == "double" else np.float32)
    labels, proba = sess.run(None, {sess.get_inputs()[0].name: X})
    assert labels.tolist() == logreg.model.predict(logreg.X_test).tolist()
    assert np.abs(proba - logreg.model.predict_proba(logreg.X_test)).max() <= 1e-5


def test_onnx_unavailable_says_why(registry, cancer, tmp_path):
    from _helpers import Fitted, lineage_of
    from sklearn.neighbors import NearestCentroid

    X_train, X_test, y_train, y_test = cancer
    model = NearestCentroid().fit(X_train, y_train)
    mv = registry.register("centroid", model, lineage=lineage_of(model, X_train, X_test, "classification", [0, 1]))
    b = make_bundle(registry, Fitted(mv.ref, model, X_test, y_test), tmp_path / "centroid")
    onnx = b.manifest["onnx"]
    assert onnx["available"] is False
    assert "skl2onnx cannot convert" in onnx["reason"] and "NearestCentroid" in onnx["reason"]
    assert not (b.path / "model" / "model.onnx").exists()
    assert b.manifest["model"]["predict_from_proba"] is False
    assert not any("onnxruntime" in r for r in b.manifest["requirements"])


def test_tarball_holds_the_bundle(logreg_bundle):
    b = logreg_bundle
    assert b.tarball == b.path.parent / f"{b.path.name}.tar.gz"
    with tarfile.open(b.tarball) as tar:
        names = {n for n in tar.getnames()}
        assert f"{b.path.name}/manifest.json" in names
        for rel in b.manifest["files"]:
            assert f"{b.path.name}/{rel}" in names
        manifest = json.load(tar.extractfile(f"{b.path.name}/manifest.json"))
    assert manifest == b.manifest


def test_runtime_imports_only_stdlib_numpy_and_model_libraries(logreg_bundle):
    stdlib = set(sys.stdlib_module_names)
    for py in (logreg_bundle.path / "runtime" / "stratum_serve").glob("*.py"):
        tree = ast.parse(py.read_text())
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the package
                    continue
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top in RUNTIME_KERAS_IMPORTS and py.name == "keras_backend.py" and id(node) not in top_level:
                    continue
                # gRPC is optional: grpcio only inside grpc_server's functions, protobuf in its generated messages
                if top == "grpc" and py.name == "grpc_server.py" and id(node) not in top_level:
                    continue
                if top == "google" and py.name == "grpc_predict_v2_pb2.py":
                    continue
                assert top in stdlib or top in RUNTIME_ALLOWED_IMPORTS, f"{py.name} imports {top}"


def test_runtime_starts_from_the_bundle_alone(logreg_bundle, tmp_path):
    """PYTHONPATH=<bundle>/runtime python -m stratum_serve, with jupyter_stratum made unimportable."""
    code = (
        "import sys, runpy; sys.modules['jupyter_stratum'] = None; "
        "runpy.run_module('stratum_serve', run_name='__main__', alter_sys=True)"
    )
    cmd = [sys.executable, "-c", code, str(logreg_bundle.path), "--host", "127.0.0.1", "--port", "0"]
    server = start_server(cmd, env={"PYTHONPATH": str(logreg_bundle.path / "runtime")}, cwd=tmp_path)
    try:
        m = logreg_bundle.manifest
        status, body, _ = server.post("/predict", {"records": m["sample"]["records"]})
        assert status == 200 and body["predictions"] == m["sample"]["expected"]
    finally:
        server.stop()


def test_tampered_model_refuses_to_start(logreg_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(logreg_bundle.path, copy)
    with open(copy / "model" / "model.skops", "ab") as fh:
        fh.write(b"x")
    proc = subprocess.run(serve_cmd(copy), capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert "model/model.skops does not match its sha256" in proc.stderr


def test_not_a_bundle_says_so(tmp_path):
    proc = subprocess.run(serve_cmd(tmp_path), capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2 and "has no manifest.json" in proc.stderr


def test_existing_bundle_needs_force(registry, logreg, logreg_bundle):
    from jupyter_stratum.bundle import build_bundle

    with pytest.raises(BundleError, match="--force"):
        build_bundle(logreg.ref, logreg_bundle.path, registry=registry)


def test_cli_bundle_command(registry, logreg, tmp_path):
    out = tmp_path / "cli-bundle"
    cmd = [
        sys.executable,
        "-m",
        "jupyter_stratum.cli",
        "bundle",
        "cancer@1",
        "--out",
        str(out),
        "--home",
        str(registry.root),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Bundle cancer@1" in proc.stdout and "onnx:     yes" in proc.stdout
    assert (out / "manifest.json").is_file() and (tmp_path / "cli-bundle.tar.gz").is_file()
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert again.returncode == 2 and "--force" in again.stderr
    missing = subprocess.run(cmd[:4] + ["nosuchmodel"] + cmd[5:], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert missing.returncode == 2 and "nosuchmodel" in missing.stderr


def test_magic_bundle_returns_the_bundle(registry, logreg, tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_stratum.bundle import Bundle

    monkeypatch.setenv("STRATUM_HOME", str(registry.root))
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("jupyter_stratum")
    out = tmp_path / "magic-bundle"
    result = shell.run_line_magic("stratum", f"bundle cancer@1 --out {out} --no-tarball")
    assert isinstance(result, Bundle) and result.path == out
    assert result.manifest["name"] == "cancer" and not (tmp_path / "magic-bundle.tar.gz").exists()
    assert "Bundle cancer@1" in repr(result)


def test_sample_outputs_compare_labels_as_text_and_numbers_to_the_last_bits():
    import math

    from jupyter_stratum.bundle.sklearn_bundle import same_outputs

    x = 215.78129069677692
    assert same_outputs([x, 1.5], [math.nextafter(x, math.inf), 1.5])  # one ulp: two BLAS summation orders
    assert not same_outputs([x], [x * (1 + 1e-7)])  # a column in the wrong place moves far more
    assert same_outputs(["churn", 1, True], ["churn", 1, True]) and not same_outputs(["1"], ["1.0"])
    assert not same_outputs([1.0, 2.0], [1.0])
