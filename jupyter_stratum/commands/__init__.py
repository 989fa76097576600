"""Subcommands shared by the ``%stratum`` magic and the ``stratum`` CLI.

Each subcommand lives in its own module here and defines:

- ``HELP``: one line for the command list;
- ``add_arguments(parser)``: its argparse arguments (the same parser serves the
  magic line and the command line, so both accept exactly the same options);
- ``run(args, ctx) -> object``: calls the core and returns something to show.
  The magic displays the returned object (rich repr); the CLI prints
  ``to_text()`` if it has one, else ``str()``.

Modules are imported only when their command is used, so loading the
extension stays cheap. To add a command, add its module name to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import StratumError

# command name -> module (relative to this package)
COMMANDS: dict[str, str] = {
    "train": ".train",
    "models": ".models",
    "show": ".show",
    "catalog": ".catalog",
    "bundle": ".bundle",
    "cluster": ".cluster",
    "deploy": ".deploy",
    "undeploy": ".undeploy",
    "rollback": ".rollback",
    "deployments": ".deployments",
    "rollout": ".rollout",
    "monitor": ".monitor",
    "alias": ".alias",
    "events": ".events",
    "supervise": ".supervise",
    "pipeline": ".pipeline",
}


class CommandLineError(StratumError):
    """Bad arguments to ``%stratum`` / ``stratum``."""

    area = "usage"


@dataclass
class CommandContext:
    """What a command may use from its front-end."""

    #: the notebook namespace (variables such as DataFrames), or None on the CLI
    user_ns: dict | None = None
    #: the body of a ``%%stratum`` cell, or None
    cell: str | None = None
    #: True in a notebook (widgets may be shown), False on the CLI
    interactive: bool = False
    #: receives events (plain dataclasses) while the command runs
    on_event: Callable[[Any], None] | None = None
    #: shows an object as it becomes available (IPython display or print)
    display: Callable[[Any], None] = print


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so a magic never kills the kernel."""

    def error(self, message: str):  # noqa: D401
        raise CommandLineError(f"{self.prog}: {message}\n\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None):
        if status:
            raise CommandLineError(message or f"{self.prog} failed")
        raise HelpShown(message or "")


class HelpShown(Exception):
    """``--help`` was asked: the help text has already been printed."""


def command_module(name: str):
    try:
        return importlib.import_module(COMMANDS[name], __name__)
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise CommandLineError(
            f"Unknown command '{name}'.{hint} Commands: {', '.join(sorted(COMMANDS))}. "
            "`%stratum help` (or `stratum help`) lists what each does."
        ) from None


def build_parser(prog: str = "stratum") -> argparse.ArgumentParser:
    """One parser with a subparser per command (loads every command module)."""
    parser = _Parser(prog=prog, description="Train, compare, register and deploy ML pipelines.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = command_module(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
    return parser


def parse(argv: list[str], prog: str = "stratum") -> argparse.Namespace:
    """Parse ``argv`` for one command, loading only that command's module."""
    if argv[:1] == ["help"] and len(argv) > 1:
        argv = [argv[1], "--help"]  # `help COMMAND` == `COMMAND --help`
    if not argv or argv[0] in ("-h", "--help", "help"):
        build_parser(prog).print_help()
        raise HelpShown("")
    name, rest = argv[0], argv[1:]
    module = command_module(name)
    parser = _Parser(prog=f"{prog} {name}", description=module.HELP)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    args.command = name
    return args


def run(args: argparse.Namespace, ctx: CommandContext) -> Any:
    return command_module(args.command).run(args, ctx)
