"""``%stratum monitor [DEPLOYMENT]`` / ``stratum monitor``: watch a deployment's hosts."""

from __future__ import annotations

HELP = "Watch a deployment: request rate, p50/p95/p99 latency, error rate, CPU, memory and up/down per host."


def add_arguments(parser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        metavar="DEPLOYMENT",
        help="Deployed model name (its newest deployment; default: the newest of all), "
        "an inventory file, or a host URL.",
    )
    parser.add_argument(
        "--url", action="append", default=[], help="Host URL to watch (repeatable), instead of a deployment."
    )
    parser.add_argument("--interval", type=float, default=2.0, help="Seconds between polls (default 2).")
    parser.add_argument("--count", type=int, help="CLI: print this many tables, then stop (default: one).")
    parser.add_argument("--stop", action="store_true", help="Stop every live monitor panel of this kernel.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def run(args, ctx):
    from .. import monitor
    from ..registry import open_registry

    if args.stop:
        from ..monitor.panel import stop_all

        return f"Stopped {stop_all()} monitor panel(s)."
    reg = open_registry(args.home)
    target = args.url or args.target
    if ctx.interactive:
        return monitor.panel(target, interval=args.interval, registry=reg)
    last = None
    for last in monitor.watch(  # noqa: B007 (the loop keeps the last sample)
        target,
        interval=args.interval,
        count=args.count or 1,
        registry=reg,
        out=lambda text: None if (args.count or 1) == 1 else print(text, flush=True),
    ):
        pass
    return last
