"""The host helpers' check asks the runtime which model and version it serves, so a runtime of another version
holding the port is told apart from the one just started (the check then fails instead of passing on the
manifest's sample, which two versions may predict alike)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HELPER = REPO / "jupyter_stratum" / "deploy" / "ansible" / "roles" / "stratum_model" / "files" / "stratum_host.py"


def _helper():
    spec = importlib.util.spec_from_file_location("stratum_host_under_test", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_tells_the_version_served_from_another(logreg_bundle, serve):
    host = _helper()
    server = serve(logreg_bundle.path)
    manifest = json.loads((Path(logreg_bundle.path) / "manifest.json").read_text())
    assert host.serves_version(server.url, manifest)
    assert not host.serves_version(server.url, {**manifest, "version": str(int(manifest["version"]) + 1)})
    assert not host.serves_version(server.url, {**manifest, "name": "another-model"})
    assert not host.serves_version("http://127.0.0.1:9", manifest)  # nothing listens there
