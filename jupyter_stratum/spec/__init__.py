"""The pipeline spec: the model every front-end builds (``model``) and its YAML parser (``parse``)."""

from __future__ import annotations

from .model import (
    SKLEARN_DATASETS,
    Constraints,
    ModelSpec,
    PipelineSpec,
    Search,
    SpecIssue,
    Split,
    Step,
    Task,
    format_path,
    known_task,
    summarize_issues,
)
from .parse import LineMap, check_spec, parse_spec, validate_text

__all__ = [
    "SKLEARN_DATASETS",
    "Constraints",
    "LineMap",
    "ModelSpec",
    "PipelineSpec",
    "Search",
    "SpecIssue",
    "Split",
    "Step",
    "Task",
    "check_spec",
    "format_path",
    "known_task",
    "parse_spec",
    "summarize_issues",
    "validate_text",
]
