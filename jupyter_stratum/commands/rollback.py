"""``%stratum rollback NAME --edge INVENTORY`` / ``stratum rollback ...``."""

from __future__ import annotations

HELP = "Switch the edge hosts of an inventory back to the release that served before the current one."


def add_arguments(parser) -> None:
    from .deploy import add_host_action_arguments

    add_host_action_arguments(parser)


def run(args, ctx):
    from .deploy import run_host_action

    return run_host_action("rollback", args, ctx)
