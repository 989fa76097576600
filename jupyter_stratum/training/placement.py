"""Where each candidate's tasks run on a heterogeneous Dask cluster.

Dask does the scheduling; placement only decides each candidate's resource
request (``client.submit(..., resources=...)``) from what the cluster offers:

- a candidate whose spec gives ``resources:`` keeps exactly that request (the
  engine refuses it when no worker offers it);
- a candidate whose estimator declares an accelerator (the Keras templates:
  ``stratum_accelerator = "GPU"``) asks for ``GPU: 1`` when some worker offers
  ``GPU``, so its tasks land only on GPU workers; when none does it runs on the
  CPU workers and the plan gets a notice saying so;
- every other candidate runs on any worker (GPU workers included).

:func:`place` also records, per candidate, the workers able to run it, which
``--dry-run`` shows. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

ANY_WORKER = "any worker"


@dataclass
class CandidatePlacement:
    candidate_id: str
    resources: dict
    workers: list[str]
    reason: str

    def to_json(self) -> dict:
        return {
            "candidate": self.candidate_id,
            "resources": dict(self.resources),
            "workers": list(self.workers),
            "reason": self.reason,
        }


def accelerator_of(algorithm: str) -> str | None:
    """The resource an algorithm's estimator asks for when the cluster offers it (e.g. "GPU")."""
    from ..catalog import lookup

    for algo in lookup(algorithm):
        accelerator = getattr(algo.factory, "stratum_accelerator", None)
        if accelerator:
            return accelerator
    return None


def eligible_workers(resources: dict, cluster) -> list[str]:
    """Names of the workers that offer every resource of ``resources`` in that amount."""
    return [w.name for w in cluster.workers if all(w.resources.get(k, 0) >= v for k, v in resources.items())]


def _fmt(resources: dict) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in resources.items())


def place(plan, cluster) -> list[CandidatePlacement]:
    """Set each candidate's (and its tasks') resources for ``cluster``; add notices to the plan.

    ``cluster`` is a :class:`jupyter_stratum.cluster.ClusterInfo`. Returns one
    :class:`CandidatePlacement` per candidate (also kept in ``plan.placement``).
    """
    placements: list[CandidatePlacement] = []
    on_cpu: list[str] = []
    for c in plan.candidates:
        accelerator = accelerator_of(c.algorithm)
        resources = dict(c.resources)
        if resources:
            reason = f"asks for {_fmt(resources)}"
        elif accelerator and any(w.resources.get(accelerator, 0) >= 1 for w in cluster.workers):
            resources = {accelerator: 1}
            reason = f"{c.class_name} trains on a {accelerator} worker"
        elif accelerator:
            reason = f"no worker offers {accelerator}: runs on CPU workers"
            on_cpu.append(c.id)
        else:
            reason = "runs on any worker"
        c.resources = resources
        for task in plan.tasks:
            if task.candidate_id == c.id:
                task.resources = resources
        placements.append(CandidatePlacement(c.id, resources, eligible_workers(resources, cluster), reason))
    if on_cpu:
        where = "the embedded local cluster" if cluster.embedded else f"the cluster at {cluster.scheduler}"
        plan.notices.append(
            f"{', '.join(on_cpu)}: no worker of {where} offers GPU, so {'it trains' if len(on_cpu) == 1 else 'they train'} "
            "on CPU workers (slower). Connect to a cluster with GPU workers (`%stratum cluster connect ADDR`; "
            "see cluster/ for recipes) to train on a GPU."
        )
    plan.placement = {p.candidate_id: p for p in placements}
    plan.cluster_text = _cluster_line(cluster)
    return placements


def _cluster_line(cluster) -> str:
    kind = "embedded local cluster" if cluster.embedded else f"cluster at {cluster.scheduler}"
    offered = _fmt(cluster.resources)
    return f"{kind}: {len(cluster.workers)} worker(s)" + (f", resources {offered}" if offered else ", no GPU")


def runs_on(placement: CandidatePlacement, cluster_size: int | None = None) -> str:
    """Short text for a plan row: the workers a candidate's tasks may run on."""
    if not placement.workers:
        return "no worker offers " + _fmt(placement.resources)
    names = ", ".join(placement.workers)
    if not placement.resources:
        return f"{ANY_WORKER} ({names})"
    return names


def cluster_for_plan(client=None, address: str | None = None):
    """ClusterInfo for a dry run: the given client or address, the connected cluster, or a
    description of the embedded local cluster that training would start (without starting it)."""
    from .. import cluster as cl

    if client is not None:
        return cl.cluster_info(client)
    address = address or cl.configured_scheduler()
    if address:
        return cl.cluster_info(cl.connect(address))
    embedded = cl.embedded_client()
    if embedded is not None:
        return cl.cluster_info(embedded)
    import os

    n = max(1, min(os.cpu_count() or 1, 8))
    workers = [cl.WorkerInfo(name=str(i), address="(not started)", nthreads=1, memory_limit=0) for i in range(n)]
    return cl.ClusterInfo(
        scheduler="(embedded, starts with the first run)", dashboard_link=None, workers=workers, embedded=True
    )
