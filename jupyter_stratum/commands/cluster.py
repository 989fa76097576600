"""``%stratum cluster``: show the Dask cluster training uses, or switch it.

    %stratum cluster                          workers, their resources (GPU, memory, threads), dashboard
    %stratum cluster connect tcp://HOST:8786  use a running scheduler (e.g. started by cluster/launch.py)
    %stratum cluster local [--workers N]      (re)start the embedded local cluster
    %stratum cluster gateway [--address URL] [--name CLUSTER] [--workers N] [--gpu]
                                              a cluster from a Dask Gateway (e.g. a JupyterHub's)

Switching sets ``$STRATUM_SCHEDULER`` in this process, so the next
``%%stratum train`` (without ``--cluster``) runs there.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import CommandLineError

HELP = "Show the Dask cluster (workers, GPU/memory/threads, dashboard); connect ADDR | local | gateway switch it."


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("show", help="The cluster training uses (default).")
    p = sub.add_parser("connect", help="Use the Dask scheduler at ADDR for training.")
    p.add_argument("address", metavar="ADDR", help="Scheduler address, e.g. tcp://10.0.0.5:8786.")
    p = sub.add_parser("local", help="(Re)start the embedded local cluster and use it.")
    p.add_argument("--workers", "-n", type=int, metavar="N", help="Number of worker processes (1 thread each).")
    p = sub.add_parser("gateway", help="Start (or join) a cluster through a Dask Gateway and use it.")
    p.add_argument(
        "--address",
        metavar="URL",
        help="Gateway address (default: the dask config, set by JupyterHub's dask-gateway setup).",
    )
    p.add_argument("--name", metavar="CLUSTER", help="Join this running gateway cluster instead of starting one.")
    p.add_argument("--workers", "-n", type=int, metavar="N", help="Scale the cluster to N workers.")
    p.add_argument(
        "--timeout",
        type=float,
        default=300,
        metavar="S",
        help="Seconds to wait for the --workers to start (default 300).",
    )
    p.add_argument(
        "--gpu",
        action="store_true",
        help="Workers with one GPU each, advertised as GPU=1 (cluster option 'gpu', see cluster/gateway).",
    )


@dataclass
class ClusterView:
    """A cluster's description plus one line about what just happened."""

    info: object  # cluster.ClusterInfo, or None when nothing is connected
    message: str = ""

    def to_text(self) -> str:
        body = self.info.to_text() if self.info is not None else ""
        return "\n".join(x for x in (self.message, body) if x)

    def _repr_html_(self) -> str:
        import html

        head = f"<p>{html.escape(self.message)}</p>" if self.message else ""
        return head + (self.info._repr_html_() if self.info is not None else "")

    def __repr__(self) -> str:
        return self.to_text()


def _positive(n: int | None, what: str) -> None:
    if n is not None and n < 1:
        raise CommandLineError(f"--{what} must be at least 1, got {n}.")


def run(args, ctx):
    from .. import cluster as cl

    action = getattr(args, "action", None) or "show"
    if action == "connect":
        client = cl.connect(args.address)  # ClusterError with advice when unreachable
        cl.use_for_training(args.address)
        info = cl.cluster_info(client)
        return ClusterView(info, f"Connected to {args.address}: %%stratum train now runs there. {_gpu_line(info)}")
    if action == "local":
        _positive(args.workers, "workers")
        cl.use_for_training(None)
        info = cl.cluster_info(cl.local(args.workers))
        note = "" if ctx.interactive else " (it stops when this command exits; use it from a notebook)"
        return ClusterView(
            info, f"Embedded local cluster started: %%stratum train now runs there{note}. {_gpu_line(info)}"
        )
    if action == "gateway":
        _positive(args.workers, "workers")
        from ..cluster.gateway_client import cluster_name, gateway

        client = gateway(args.address, name=args.name, workers=args.workers, gpu=args.gpu, timeout=args.timeout)
        info = cl.cluster_info(client)
        return ClusterView(
            info, f"Gateway cluster {cluster_name(client)} ready: %%stratum train now runs there. {_gpu_line(info)}"
        )
    return _show(cl)


def _show(cl) -> ClusterView:
    address = cl.configured_scheduler()
    if address:
        return ClusterView(cl.cluster_info(cl.connect(address)), f"Training uses ${cl.SCHEDULER_ENV} = {address}.")
    client = cl.embedded_client()
    if client is not None:
        return ClusterView(cl.cluster_info(client), "Training uses the embedded local cluster.")
    from ..training.placement import cluster_for_plan

    n = len(cluster_for_plan().workers)
    return ClusterView(
        None,
        f"No cluster connected yet: the first %%stratum train starts an embedded local "
        f"cluster ({n} workers, 1 thread each, no GPU). `%stratum cluster local --workers N` "
        "starts it now; `%stratum cluster connect tcp://HOST:8786` uses a running scheduler "
        "(see cluster/ for recipes); `%stratum cluster gateway` asks a Dask Gateway.",
    )


def _gpu_line(info) -> str:
    gpus = [w.name for w in info.workers if w.resources.get("GPU", 0) >= 1]
    if gpus:
        return f"Keras candidates train on the GPU worker(s): {', '.join(gpus)}."
    return "No worker offers GPU: Keras candidates train on CPU workers."
