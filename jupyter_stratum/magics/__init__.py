"""``%stratum`` and ``%%stratum``: parse the line, call the core, display the result.

The magic holds no logic of its own: every subcommand is a module of
:mod:`jupyter_stratum.commands`, shared with the ``stratum`` CLI.
"""

from __future__ import annotations

import shlex

from IPython.core.magic import Magics, line_cell_magic, magics_class

from .. import commands
from ..errors import StratumError


def _usage() -> str:
    lines = [
        "Train, compare, register and deploy ML pipelines from a notebook.",
        "",
        "Usage:",
        "  %%stratum train NAME [--cluster ADDR] [--dry-run]   (the cell body is the YAML spec)",
        "  %%stratum pipeline NAME [--check]   (the cell body is the inference pipeline's YAML)",
        "  %stratum COMMAND [options]   (%stratum help COMMAND for its options)",
        "",
        "Commands:",
    ]
    for name in commands.COMMANDS:
        try:
            lines.append(f"  {name:<12} {commands.command_module(name).HELP}")
        except Exception:  # a command whose module can't load still shows in the list  # noqa: BLE001
            lines.append(f"  {name}")
    lines += [
        "",
        "Example:",
        "  %%stratum train churn",
        "  data: df",
        "  target: label",
        "  models: [logistic_regression, random_forest]",
        "  metric: roc_auc",
    ]
    return "\n".join(lines)


class StratumCellError(Exception):
    """A ``%stratum`` / ``%%stratum`` command failed with an error the user can fix.

    Raised from the magic so that the cell's execution fails (Run All, nbconvert --execute and
    papermill stop there), but shown as the one message of the original error: IPython renders
    ``_render_traceback_`` instead of a traceback. ``error`` is the original exception.
    """

    def __init__(self, error: BaseException):
        self.error = error
        self.area = getattr(error, "area", "stratum")
        super().__init__(f"stratum {self.area} error: {error}")

    def _render_traceback_(self) -> list[str]:
        head, _, rest = str(self).partition(": ")
        return [f"\x1b[1;31m{head}\x1b[0m: {rest}"]


@magics_class
class StratumMagics(Magics):
    @line_cell_magic
    def stratum(self, line: str, cell: str | None = None):
        """Train, compare, register and deploy ML pipelines.

          %%stratum train NAME [--cluster ADDR] [--dry-run]   -- the cell body is the YAML spec
          %stratum models                                      -- registered models
          %stratum show NAME[@V]                               -- one version and its lineage
          %stratum catalog [NAME]                              -- algorithms a spec can name
          %stratum help [COMMAND]                              -- every command, or one's options
          %stratum                                             -- every command

        Example::

          %%stratum train churn
          data: df
          target: label
          models:
            - logistic_regression: {C: [0.1, 1, 10]}
            - random_forest
          metric: roc_auc
        """
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise StratumCellError(
                commands.CommandLineError(f"Cannot parse the line: {exc}. Check the quotes.")
            ) from None
        if argv[:1] == ["help"] and len(argv) > 1:
            argv = [argv[1], "--help"]  # %stratum help train == %stratum train --help
        if not argv or argv == ["help"]:
            print(_usage())
            return None
        from IPython.display import display

        try:
            args = commands.parse(argv, prog="%stratum")
            ctx = commands.CommandContext(user_ns=self.shell.user_ns, cell=cell, interactive=True, display=display)
            return commands.run(args, ctx)
        except commands.HelpShown:
            return None
        except StratumError as exc:
            raise StratumCellError(exc) from None
