"""``%%stratum pipeline NAME`` / ``stratum pipeline FILE --name NAME``: register an inference pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import CommandContext, CommandLineError

HELP = "Check an inference pipeline (models, switches, ensembles) against the registry and register it."


def add_arguments(parser) -> None:
    parser.add_argument(
        "target",
        metavar="NAME|FILE",
        help="In a %%%%stratum cell: the pipeline's name (the cell body is its YAML). On the command line: the YAML file.",
    )
    parser.add_argument("--name", help="Name to register under (CLI; default: the file's stem).")
    parser.add_argument("--check", action="store_true", help="Check only: register nothing.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def _text_and_name(args, ctx: CommandContext) -> tuple[str, str]:
    if ctx.cell is not None:
        if not ctx.cell.strip():
            raise CommandLineError(
                "The %%stratum pipeline cell is empty: write the pipeline (YAML) below the first line, e.g.\n"
                "  steps:\n    - screen: {model: anomaly@champion}\n    - label: {threshold: 0.8}"
            )
        return ctx.cell, args.target
    from ..errors import SpecError

    path = Path(args.target)
    try:
        return path.read_text(encoding="utf-8"), args.name or path.stem
    except FileNotFoundError:
        raise SpecError(
            f"Pipeline file not found: {path}. Give the path of a YAML pipeline (or use %%stratum pipeline NAME "
            "in a notebook cell)."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"Cannot read the pipeline file {path}: {exc}. Check the path and its permissions.") from None


def run(args, ctx: CommandContext):
    from ..registry import open_registry
    from ..registry.pipelines import check_pipeline, register_pipeline
    from ..registry.refs import validate_name

    text, name = _text_and_name(args, ctx)
    validate_name(name)
    registry = open_registry(args.home)
    if args.check:
        checked = check_pipeline(registry, text)
        return PipelineRegistered(name, None, checked.models, checked.task)
    mv = register_pipeline(registry, name, text)
    return PipelineRegistered(name, mv.version, dict(mv.extra["pipeline"]["models"]), mv.task)


@dataclass(repr=False)
class PipelineRegistered:
    """What ``stratum pipeline`` prints: the version and the model versions it pins."""

    name: str
    version: int | None
    models: dict[str, str]
    task: Any

    def to_text(self) -> str:
        head = (
            f"Pipeline {self.name}: checked, not registered"
            if self.version is None
            else f"Registered pipeline {self.name}@{self.version} ({self.task})"
        )
        pins = [f"  {step:<12} {ref}" for step, ref in self.models.items()]
        tail = [] if self.version is None else [f"  bundle it: stratum bundle {self.name}@{self.version}"]
        return "\n".join([head, *pins, *tail])

    def __repr__(self) -> str:
        return self.to_text()
