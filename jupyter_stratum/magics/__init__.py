"""``%stratum`` and ``%%stratum``: parse the line, call the core, display the result.

The magic holds no logic of its own: every subcommand is a module of
:mod:`jupyter_stratum.commands`, shared with the ``stratum`` CLI.
"""

from __future__ import annotations

import html
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
        "  %stratum COMMAND [options]   (%stratum COMMAND --help for its options)",
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


def show_error(error: BaseException) -> None:
    """One clear message (not a traceback) in the cell output."""
    from IPython.display import display

    area = getattr(error, "area", "stratum")
    text = f"stratum {area} error: {error}"
    display(
        {
            "text/plain": text,
            "text/html": (
                '<div class="stratum-error" style="border-left:4px solid #c62828;padding:4px 8px;'
                f'background:rgba(198,40,40,0.06)"><b>stratum {html.escape(area)} error</b><pre '
                f'style="white-space:pre-wrap;margin:4px 0">{html.escape(str(error))}</pre></div>'
            ),
        },
        raw=True,
    )


@magics_class
class StratumMagics(Magics):
    @line_cell_magic
    def stratum(self, line: str, cell: str | None = None):
        """Train, compare, register and deploy ML pipelines.

          %%stratum train NAME [--cluster ADDR] [--dry-run]   -- the cell body is the YAML spec
          %stratum models                                      -- registered models
          %stratum show NAME[@V]                               -- one version and its lineage
          %stratum catalog [NAME]                              -- algorithms a spec can name
          %stratum COMMAND --help                              -- options of any command
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
            show_error(commands.CommandLineError(f"Cannot parse the line: {exc}. Check the quotes."))
            return None
        if not argv:
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
            show_error(exc)
            return None
