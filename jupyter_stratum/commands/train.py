"""``%%stratum train NAME`` / ``stratum train SPEC.yaml``: train, compare, register."""

from __future__ import annotations

from pathlib import Path

from . import CommandContext, CommandLineError

HELP = "Train every candidate of a pipeline spec on Dask, show the leaderboard, register the best."


def add_arguments(parser) -> None:
    parser.add_argument(
        "target",
        metavar="NAME|SPEC",
        help="In a %%%%stratum cell: the model name to register. On the command line: the YAML spec file.",
    )
    parser.add_argument("--name", help="Model name to register (CLI; default: the spec file's stem).")
    parser.add_argument(
        "--cluster",
        metavar="ADDR",
        help="Dask scheduler address (tcp://host:8786); default: $STRATUM_SCHEDULER, else an embedded local cluster.",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="Show the plan (candidates, folds, tasks, resources); train nothing."
    )
    parser.add_argument("--no-register", action="store_true", help="Train and compare, but register nothing.")
    parser.add_argument("--quiet", "-q", action="store_true", help="Only the result, no per-task lines (CLI).")
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="Also write a self-contained HTML report (leaderboard, ROC/PR, confusion matrix "
        "or regression plots, CV spread, cost) to FILE.",
    )


def _spec_and_name(args, ctx: CommandContext):
    if ctx.cell is not None:
        if not ctx.cell.strip():
            raise CommandLineError(
                "The %%stratum train cell is empty: write the pipeline spec (YAML) below "
                "the first line, e.g.\n  data: sklearn:breast_cancer\n  models: [logistic_regression]"
            )
        return ctx.cell, args.target, None
    path = Path(args.target)
    from ..errors import SpecError

    if not path.exists():
        raise SpecError(
            f"Spec file not found: {path}. Give the path of a YAML pipeline spec "
            "(or use %%stratum train NAME in a notebook cell)."
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"Cannot read the spec file {path}: {exc}. Check the path and its permissions.") from None
    return text, args.name or path.stem, path.parent


def run(args, ctx: CommandContext):
    from ..training.run import dry_run, train

    text, name, base_dir = _spec_and_name(args, ctx)
    if args.dry_run:
        return dry_run(text, user_ns=ctx.user_ns, base_dir=base_dir, cluster=args.cluster)
    report = _report_path(args.report)
    on_event = ctx.on_event
    if on_event is None:
        from ..training.progress import TerminalProgress
        from ..widgets import notebook_progress

        on_event = (
            notebook_progress(cluster=args.cluster, title=name)
            if ctx.interactive
            else TerminalProgress(quiet=args.quiet)
        )
    try:
        result = train(
            text,
            name=None if args.no_register else name,
            user_ns=ctx.user_ns,
            base_dir=base_dir,
            cluster=args.cluster,
            on_event=on_event,
        )
    except KeyboardInterrupt:  # Stop before the tasks were out (loading, scattering): nothing to cancel yet
        from ..errors import TrainingError

        raise TrainingError("Interrupted before the tasks started; nothing was trained or registered.") from None
    finally:
        close = getattr(on_event, "close", None)
        if close is not None:
            close()
    if report is not None:
        written = result.report(report)
        if ctx.interactive:
            ctx.display(_report_link(written))
        else:
            import sys

            print(f"Report: {written}", file=sys.stderr)
    return result


def _report_path(value: str | None):
    """Check --report FILE before training (a bad path should not cost a whole run)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        raise CommandLineError(f"--report {value}: is a directory. Give a file name, e.g. --report report.html.")
    if not path.parent.exists():
        raise CommandLineError(
            f"--report {value}: the folder {path.parent} does not exist. Create it, "
            "or give a path in an existing folder."
        )
    return path


def _report_link(path):
    import html

    from IPython.display import HTML

    return HTML(f'Report written to <a href="{html.escape(str(path))}" target="_blank">{html.escape(str(path))}</a>')
