"""Adding a flavor is one register_flavor() call; the registry treats it like sklearn."""

from __future__ import annotations

import json

import pytest

from jupyter_stratum.errors import RegistryError
from jupyter_stratum.registry import flavors, register_flavor


class TinyModel:
    def __init__(self, weights):
        self.weights = weights

    def predict(self, rows):
        return [sum(w * x for w, x in zip(self.weights, row)) for row in rows]


@pytest.fixture
def json_flavor(monkeypatch):
    monkeypatch.setattr(flavors, "_FLAVORS", dict(flavors._FLAVORS))  # undone after the test
    seen_paths = []

    def save(model, path):
        seen_paths.append(path)
        path.write_text(json.dumps(model.weights))

    return register_flavor("tinyjson", save, lambda p: TinyModel(json.loads(p.read_text())), ".tiny.json"), seen_paths


def test_custom_flavor_round_trip(registry, json_flavor):
    _, seen_paths = json_flavor
    mv = registry.register("tiny", TinyModel([1.0, 2.0]), lineage={"task": "regression"}, flavor="tinyjson")
    assert seen_paths[0].name.endswith(".tiny.json")  # save gets a path with the flavor's suffix
    assert mv.flavor == "tinyjson" and mv.artifact.endswith(".tiny.json") and mv.algorithm == "TinyModel"
    assert registry.load("tiny@1").predict([[1, 1]]) == [3.0]
    mv.artifact_path.write_text("[0, 0]")  # sha256 is checked for every flavor
    with pytest.raises(RegistryError, match="was modified"):
        registry.load("tiny")


def test_flavor_errors(registry, fitted_pipeline, json_flavor):
    with pytest.raises(RegistryError, match="Unknown model flavor 'onnx-only'. Available flavors: .*sklearn.*tinyjson"):
        registry.register("m", fitted_pipeline, lineage={}, flavor="onnx-only")
    with pytest.raises(ValueError, match="already registered"):
        register_flavor("sklearn", lambda m, p: None, lambda p: None, ".x")
    with pytest.raises(ValueError, match="must start with '.'"):
        register_flavor("other", lambda m, p: None, lambda p: None, "x")
    assert registry.names() == []


def test_failing_custom_save_leaves_nothing(registry, monkeypatch):
    monkeypatch.setattr(flavors, "_FLAVORS", dict(flavors._FLAVORS))

    def save(model, path):
        path.write_text("partial")
        raise OSError("device gone")

    register_flavor("flaky", save, lambda p: None, ".bin")
    with pytest.raises(RegistryError, match="Could not save 'm' with the 'flaky' flavor: OSError: device gone"):
        registry.register("m", object(), lineage={}, flavor="flaky")
    assert registry.names() == []
    assert [p for p in (registry.root / "artifacts").rglob("*") if p.is_file()] == []
