"""``%stratum undeploy NAME --edge INVENTORY`` / ``stratum undeploy ...``."""

from __future__ import annotations

HELP = "Stop a deployed model and remove it from the edge hosts of an inventory."


def add_arguments(parser) -> None:
    from .deploy import add_host_action_arguments

    add_host_action_arguments(parser)


def run(args, ctx):
    from .deploy import run_host_action

    return run_host_action("undeploy", args, ctx)
