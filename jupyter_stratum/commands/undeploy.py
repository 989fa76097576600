"""``%stratum undeploy NAME --edge INVENTORY`` / ``stratum undeploy ...``."""
from __future__ import annotations

HELP = "Stop a deployed model and remove it from the edge hosts of an inventory."


def add_arguments(parser) -> None:
    parser.add_argument("name", metavar="NAME", help="Deployed model name.")
    parser.add_argument("--edge", required=True, metavar="INVENTORY", help="Ansible inventory (INI or YAML) of the edge hosts.")
    parser.add_argument("--limit", metavar="PATTERN", help="Only the hosts matching this Ansible pattern.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def run(args, ctx):
    from ..deploy.core import undeploy
    from ..deploy.inventory import read_inventory
    from ..registry import open_registry
    from .deploy import progress_for

    reg = open_registry(args.home)
    hosts = read_inventory(args.edge, args.limit).names
    on_event = progress_for(ctx, hosts, f"undeploy {args.name}")
    return undeploy(args.name, args.edge, limit=args.limit, registry=reg, on_event=on_event)
