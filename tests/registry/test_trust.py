"""Loading never runs code: only allow-listed types are trusted, and never code-running callables."""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from jupyter_stratum.errors import RegistryError
from jupyter_stratum.registry import flavors, get_flavor
from jupyter_stratum.registry.trust import is_trusted


class NotebookScaler(LogisticRegression):
    """A class skops stores as '<this test module>.NotebookScaler' (outside the allow-list)."""


CUSTOM = f"{NotebookScaler.__module__}.NotebookScaler"


@pytest.mark.parametrize(
    "type_name",
    [
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "numpy.dtype",
        "scipy.sparse._csr.csr_matrix",
        "builtins.dict",
        "collections.OrderedDict",
        "jupyter_stratum.catalog.Something",
    ],
)
def test_allowed_types(type_name):
    assert is_trusted(type_name)


@pytest.mark.parametrize(
    "type_name",
    [
        "builtins.exec",
        "builtins.eval",
        "builtins.open",
        "builtins.__import__",
        "builtins.getattr",
        "numpy.load",
        "numpy.lib.npyio.load",
        "numpy.fromfile",
        "scipy.io.loadmat",
        "sklearn.datasets.fetch_openml",
        "os.system",
        "subprocess.Popen",
        "__main__.Foo",
        "collectionsx.Evil",
        "sklearnx.Evil",
        "__main__.NotebookScaler",
        "jupyter_stratum.registry.registry.open_registry",
    ],
)
def test_refused_types(type_name):
    assert not is_trusted(type_name)


def _crafted_exec_file(path, marker):
    """A skops file whose loading calls builtins.exec (ConstructorFromReduceNode)."""
    payload = f"open({str(marker)!r}, 'w').write('pwned')"
    schema = {
        "__class__": "exec",
        "__module__": "builtins",
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": json.dumps(payload),
                    "is_json": True,
                    "__id__": 2,
                }
            ],
            "__id__": 1,
        },
        "__id__": 0,
        "protocol": 2,
        "_skops_version": skops.__version__,
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))


def test_crafted_code_execution_file_is_refused(tmp_path):
    path, marker = tmp_path / "evil.skops", tmp_path / "pwned"
    _crafted_exec_file(path, marker)
    assert skops.io.get_untrusted_types(file=path) == ["builtins.exec"]
    with pytest.raises(RegistryError, match=r"Refusing to load .*builtins\.exec"):
        get_flavor("sklearn").load(path)
    assert not marker.exists()
    # the file really is dangerous: trusting what it asks for runs its code
    skops.io.load(path, trusted=["builtins.exec"])
    assert marker.read_text() == "pwned"


def test_untrusted_type_in_registry_is_refused_on_load(registry, breast_cancer, monkeypatch):
    X, y = breast_cancer
    model = NotebookScaler(max_iter=2000).fit(X[:, :4], y)
    # register refuses it up front ...
    with pytest.raises(RegistryError, match=rf"will not load: {re.escape(CUSTOM)}"):
        registry.register("custom", model, lineage={})
    # ... and a registry written without that check (another writer) is still safe on load
    unchecked = dataclasses.replace(get_flavor("sklearn"), check=None)
    monkeypatch.setitem(flavors._FLAVORS, "sklearn", unchecked)
    mv = registry.register("custom", model, lineage={})
    monkeypatch.undo()
    with pytest.raises(RegistryError, match=rf"Refusing to load .*{re.escape(CUSTOM)}"):
        registry.load(mv.ref)
    # the refusal is not about the file being broken: skops itself can load it when told to trust it
    trusted = skops.io.load(mv.artifact_path, trusted=[CUSTOM])
    np.testing.assert_array_equal(trusted.predict(X[:, :4]), model.predict(X[:, :4]))
