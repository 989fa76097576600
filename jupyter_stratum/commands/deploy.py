"""``%stratum deploy NAME[@V] --edge INVENTORY`` / ``stratum deploy ...``: deploy a model to edge hosts."""

from __future__ import annotations

HELP = "Deploy a registered model to the edge hosts of an Ansible inventory (generated project, ansible-runner)."


def add_arguments(parser) -> None:
    from ..deploy.core import EXIT_CODES_HELP

    parser.epilog = EXIT_CODES_HELP
    parser.add_argument(
        "ref", metavar="NAME[@VERSION]", help="Registered model or pipeline, e.g. churn or churn@3 (latest by default)."
    )
    parser.add_argument(
        "--edge",
        required=True,
        metavar="INVENTORY",
        help="Ansible inventory (INI or YAML) of the edge hosts; host vars such as ansible_host, "
        "ansible_user, ansible_port, stratum_port, stratum_root, stratum_workers (serving processes: N or auto) "
        "and stratum_serve_args (e.g. --grpc-port 8501: the bundle then pins grpcio) are honoured.",
    )
    parser.add_argument("--limit", metavar="PATTERN", help="Only the hosts matching this Ansible pattern.")
    parser.add_argument(
        "--port", type=int, help="Serving port for hosts whose inventory sets no stratum_port (default 8500)."
    )
    parser.add_argument("--serial", type=int, metavar="N", help="Deploy to N hosts at a time (rolling).")
    parser.add_argument(
        "--waves",
        metavar="LIST",
        help="Roll out in waves, e.g. 1,25%%,100%%: a host, then a quarter of the hosts at a time, then the "
        "rest. Each host is checked (health, the sample prediction) before the next wave starts.",
    )
    parser.add_argument(
        "--max-fail",
        metavar="PERCENT",
        help="Halt the rollout when more than PERCENT of a wave failed (e.g. 10%%; by default only when every "
        "host of a wave failed); later hosts keep their release and are reported not_reached. Unreachable "
        "hosts are reported, not counted. The rollout is recorded: `stratum rollout status|resume|abort NAME`.",
    )
    parser.add_argument(
        "--soak",
        metavar="DURATION",
        help="After a wave passes its checks, read its hosts' /metrics over this long (e.g. 10s, 2m) and "
        "halt the rollout, rolling that wave back to its previous release, when the error rate or p99 "
        "latency of the window breaches the limits below. Default 10s with --waves, 0 (no soak) without.",
    )
    parser.add_argument(
        "--max-error-rate",
        metavar="PERCENT",
        help="Highest share of prediction requests answered with an error during a wave's soak (default 1%%).",
    )
    parser.add_argument(
        "--max-p99-ms",
        type=float,
        metavar="MS",
        help="Highest p99 prediction latency, in milliseconds, during a wave's soak (default 250).",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="Generate the project; run a syntax check and check mode only."
    )
    parser.add_argument(
        "--wheelhouse",
        action="store_true",
        help="Ship the wheels of the requirements in the bundle (hosts install offline).",
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="Let hosts install missing requirements from their package index. By default hosts need no "
        "route out: what their own packages lack is shipped to them as wheels for their Python and "
        "platform (once per host, kept for later versions).",
    )
    parser.add_argument(
        "--runtime",
        choices=["process", "docker"],
        help="process (a virtual environment and a service) or docker (the bundle's image: loaded on hosts that "
        "lack it, no registry; a new container is checked beside the old one before the switch; limits from "
        "stratum_cpus / stratum_memory). Default: each host's stratum_runtime in the inventory, else process.",
    )
    parser.add_argument(
        "--base", metavar="IMAGE", help="With the docker runtime: the base image when the bundle's image is built."
    )
    parser.add_argument("--no-pipelining", action="store_true", help="Turn SSH pipelining off (hosts with requiretty).")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def progress_for(ctx, hosts: list[str], title: str):
    """A widget in a notebook, lines on the CLI; both also feed ``ctx.on_event``."""
    from ..deploy.progress import CliProgress, DeployProgress

    show = None
    if ctx.interactive:
        try:
            show = DeployProgress(hosts, title)
            ctx.display(show.widget)
        except Exception:  # no widgets available: fall back to lines  # noqa: BLE001
            show = None
    if show is None:
        show = CliProgress()

    def on_event(event) -> None:
        show(event)
        if ctx.on_event is not None:
            ctx.on_event(event)

    on_event.update = getattr(show, "update", None)  # type: ignore[attr-defined]
    return on_event


def run(args, ctx):
    from ..deploy.core import deploy
    from ..deploy.inventory import read_inventory
    from ..registry import open_registry

    reg = open_registry(args.home)
    hosts = read_inventory(args.edge, args.limit).names
    on_event = progress_for(ctx, hosts, f"deploy {args.ref}")
    return deploy(
        args.ref,
        args.edge,
        limit=args.limit,
        port=args.port,
        serial=args.serial,
        waves=args.waves,
        max_fail=args.max_fail,
        soak=args.soak,
        max_error_rate=args.max_error_rate,
        max_p99_ms=args.max_p99_ms,
        dry_run=args.dry_run,
        pipelining=not args.no_pipelining,
        wheelhouse=args.wheelhouse,
        online=args.online,
        runtime=args.runtime,
        base=args.base,
        registry=reg,
        on_event=on_event,
        on_update=on_event.update,  # type: ignore[attr-defined]
    )


def add_host_action_arguments(parser) -> None:
    """The arguments of the commands that act on a deployed model's hosts (rollback, undeploy)."""
    from ..deploy.core import EXIT_CODES_HELP

    parser.epilog = EXIT_CODES_HELP
    parser.add_argument("name", metavar="NAME", help="Deployed model name.")
    parser.add_argument(
        "--edge", required=True, metavar="INVENTORY", help="Ansible inventory (INI or YAML) of the edge hosts."
    )
    parser.add_argument("--limit", metavar="PATTERN", help="Only the hosts matching this Ansible pattern.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def run_host_action(action: str, args, ctx):
    """Run ``jupyter_stratum.deploy.core.<action>`` (rollback / undeploy) with per-host progress."""
    from ..deploy import core
    from ..deploy.inventory import read_inventory
    from ..registry import open_registry

    reg = open_registry(args.home)
    hosts = read_inventory(args.edge, args.limit).names
    on_event = progress_for(ctx, hosts, f"{action} {args.name}")
    return getattr(core, action)(args.name, args.edge, limit=args.limit, registry=reg, on_event=on_event)
