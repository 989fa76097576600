"""``stratum supervise NAME --policy FILE [--edge INVENTORY] [--once] [--dry-run]``: watch a deployed model.
In a notebook (``%stratum supervise`` without ``--once``) the result is a live panel
(:class:`jupyter_stratum.supervise.panel.SupervisePanel`; ``.stop()`` ends its polling)."""

from __future__ import annotations

from dataclasses import dataclass, field

HELP = "Watch the hosts serving a model: drift and live accuracy against a policy; decisions go to the event log."


def add_arguments(parser) -> None:
    parser.add_argument("name", metavar="NAME", help="The model to supervise.")
    parser.add_argument("--policy", metavar="FILE", help="The policy (YAML: watch, drift, accuracy, ...).")
    parser.add_argument(
        "--once", action="store_true", help="Poll once, decide, record and stop (cron, systemd timers)."
    )
    parser.add_argument(
        "--approve", action="store_true", help="Complete a promotion that waits for approval (approve: manual)."
    )
    parser.add_argument("--dry-run", action="store_true", help="Decide and record, act on nothing.")
    parser.add_argument(
        "--host",
        action="append",
        metavar="URL",
        help="A runtime to poll (repeatable; default: the hosts of the model's live deployment).",
    )
    parser.add_argument(
        "--edge",
        metavar="INVENTORY",
        help="The hosts' Ansible inventory: poll them, and promote a challenger through shadow, canary and all.",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="The runtimes' bearer token, to read their capture for retraining (or set STRATUM_SERVE_TOKEN).",
    )
    parser.add_argument("--cluster", metavar="ADDRESS", help="Dask scheduler to retrain on (default: as training).")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


@dataclass
class SuperviseView:
    name: str
    polls: list = field(default_factory=list)  # (rows, Decision)

    def to_text(self) -> str:
        from ..display import text_table

        out = []
        for rows, decision in self.polls:
            out.append(text_table(rows))
            out.append(f"{self.name}: {decision.to_text()}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return self.to_text()


def run(args, ctx):
    import os
    import time
    from pathlib import Path

    from ..errors import SuperviseError
    from ..registry import open_registry
    from ..supervise.policy import load_policy
    from ..supervise.supervisor import Supervisor, hosts_of_live_deployment, summary_rows

    registry = open_registry(args.home)
    registry.get(args.name)  # a helpful error for an unknown model
    if args.approve:
        from ..supervise.supervisor import approve

        version = approve(registry, args.name)
        return f"{args.name}: version {version} promoted (champion)"
    if not args.policy:
        raise SuperviseError("Give the policy: stratum supervise NAME --policy policy.yaml (or --approve).")
    policy = load_policy(args.policy)
    hosts = [(url, url) for url in args.host] if args.host else []
    if not hosts and not args.edge:
        hosts = hosts_of_live_deployment(registry, args.name)
    token = os.environ.get("STRATUM_SERVE_TOKEN") or None
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise SuperviseError(f"Cannot read --token-file: {exc}.") from None
    client = None
    if not args.dry_run:
        from ..cluster.client import connect

        client = connect(args.cluster) if args.cluster else None
    supervisor = Supervisor(
        registry, args.name, policy, hosts, dry_run=args.dry_run, token=token, client=client, inventory=args.edge
    )
    if ctx.interactive and not args.once:  # a notebook: the live panel, the supervisor polling in a thread
        from ..supervise.panel import SupervisePanel

        return SupervisePanel(registry, args.name).start(supervisor, policy.watch.every)
    view = SuperviseView(args.name)
    try:
        while True:
            observations, decision = supervisor.run_once()
            view.polls.append((summary_rows(observations), decision))
            if args.once:
                return view
            ctx.display(f"{args.name}: {decision.to_text()}")
            time.sleep(policy.watch.every)
    finally:
        if client is not None:  # the command's own connection to the scheduler
            client.close()
