"""What one model flavor contributes to a bundle build; :mod:`.builder` calls these steps in order.

The flavors: :class:`.sklearn_bundle.SklearnBundle` and :class:`.keras_bundle.KerasBundle`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

#: ``predict(records) -> (labels or values, probabilities or None)`` through the staged runtime
RecordsPredict = Callable[[list[dict]], tuple[list, list | None]]


class FlavorBundle:
    """One flavor's part of a build: model files, checks against the model, the smaller copy, requirements."""

    flavor = ""
    copy_key = ""  # the manifest key of the smaller verified copy: "onnx", "tflite"

    def __init__(self, mv: Any, model: Any, task: str, schema: dict):
        self.mv, self.model, self.task, self.schema = mv, model, task, schema
        self.ref = f"{mv.name}@{mv.version}"
        self.section: dict = {}  # manifest["model"], filled by write_model_files and the checks
        self.needs_frame = False  # the model (or its preprocessing) was fitted on a DataFrame: pandas required

    def write_model_files(self, staging: Path) -> dict:
        """Write the model's files under ``staging/model``; return the manifest's model section."""
        raise NotImplementedError

    def classes(self, registered: Any) -> Any:
        """The classes the manifest states, given the registry's (or the model's ``classes_``)."""
        return registered

    def copy_sections(self) -> dict:
        """The manifest sections of the copies, before the export is tried."""
        raise NotImplementedError

    def check(self, native_predict: RecordsPredict, sample: list[dict], rows: list[dict], expected: list) -> None:
        """Raise BundleError when the runtime's native path does not reproduce the model's own predictions."""
        raise NotImplementedError

    def sample_fields(self) -> dict:
        """What the manifest's sample states beyond the rows and outputs."""
        return {}

    def differs(self, recorded: list, expected: list) -> bool:
        """Whether outputs recorded in the registry differ from the runtime's for the same rows."""
        raise NotImplementedError

    def export_copy(
        self,
        staging: Path,
        write_manifest: Callable[[dict], None],
        rows: list[dict],
        native_predict: RecordsPredict,
        runtime_predict: Callable[[str], RecordsPredict],
    ) -> Any:
        """Try the smaller copy (kept only when it matches); return its result (available, reason, info)."""
        raise NotImplementedError

    def requirements(self, copy_available: bool) -> list[str]:
        """The bundle's requirements, pinned to the training versions."""
        raise NotImplementedError
