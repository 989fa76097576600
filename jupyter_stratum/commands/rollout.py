"""``%stratum rollout status|resume|abort NAME`` / ``stratum rollout ...``: a model's rollout, from anywhere."""

from __future__ import annotations

HELP = "Show, resume (after its process died) or abort the newest rollout of a model, as the registry records it."


def add_arguments(parser) -> None:
    from ..deploy.progress import ROLLOUT_EXIT_HELP

    parser.epilog = (
        "status: each host's wave, state (pending, running, done, failed, rolled_back, unreachable, "
        "not_reached), versions from and to, step, seconds, error. resume: finish a rollout whose "
        "process was killed (a closed notebook, a lost terminal); hosts already finished are not redone. "
        "abort: a running rollout stops before its next wave; hosts not reached keep their release. "
        + ROLLOUT_EXIT_HELP
    )
    parser.add_argument("action", choices=["status", "resume", "abort"], help="What to do with the rollout.")
    parser.add_argument("name", metavar="NAME", help="Model name (its newest rollout) or #ID.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def run(args, ctx):
    from ..deploy import rollout
    from ..deploy.progress import RolloutView
    from ..registry import open_registry

    reg = open_registry(args.home)
    if args.action == "status":
        return RolloutView(rollout.rollout_status(args.name, registry=reg))
    if args.action == "abort":
        ro = rollout.abort(args.name, registry=reg)
        view = RolloutView(ro, "abort")
        view.exit_code_override = 0
        return view
    from .deploy import progress_for

    ro = rollout.rollout_status(args.name, registry=reg)
    on_event = progress_for(ctx, [h.host for h in ro.hosts if not h.finished], f"resume rollout #{ro.id}")
    return rollout.resume(args.name, registry=reg, on_event=on_event, on_update=on_event.update)
