"""``%stratum deployments [NAME]`` / ``stratum deployments``: the deployment records."""

from __future__ import annotations

HELP = "List recorded deployments (model version, hosts and their status, time, who)."


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="Only the deployments of this model.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def run(args, ctx):
    from ..deploy.core import list_deployments
    from ..registry import open_registry

    return list_deployments(args.name, registry=open_registry(args.home))
