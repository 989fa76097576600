"""placement.place on described clusters (no Dask needed): who asks for GPU, and what the plan says."""

from __future__ import annotations

import pytest

from jupyter_stratum.cluster import ClusterInfo, WorkerInfo
from jupyter_stratum.errors import ClusterError
from jupyter_stratum.training import prepare
from jupyter_stratum.training.engine import check_resources
from jupyter_stratum.training.placement import place

SPEC = """\
data: sklearn:digits
split: {cv: 2}
models:
  - keras_mlp
  - keras_cnn: {resources: {GPU: 2}}
  - random_forest
"""


def cluster(*workers):
    return ClusterInfo(
        "tcp://10.0.0.1:8786",
        None,
        [WorkerInfo(name, f"tcp://10.0.0.{i + 2}:1", 1, 2**30, res) for i, (name, res) in enumerate(workers)],
        embedded=False,
    )


def test_gpu_cluster_sends_keras_to_gpu_workers_only():
    _, _, plan = prepare(SPEC)
    info = cluster(("cloud-1", {}), ("gpu-0", {"GPU": 1}), ("gpu-big", {"GPU": 2}))
    placements = {p.candidate_id: p for p in place(plan, info)}
    assert placements["keras_mlp"].resources == {"GPU": 1}
    assert placements["keras_mlp"].workers == ["gpu-0", "gpu-big"]
    assert placements["keras_cnn"].resources == {"GPU": 2} and placements["keras_cnn"].workers == ["gpu-big"]
    assert placements["random_forest"].resources == {} and placements["random_forest"].workers == [
        "cloud-1",
        "gpu-0",
        "gpu-big",
    ]
    assert {t.resources.get("GPU") for t in plan.tasks if t.candidate_id == "keras_mlp"} == {1}
    rows = {r["candidate"]: r["runs on"] for r in plan.rows()}
    assert rows == {
        "keras_mlp": "gpu-0, gpu-big",
        "keras_cnn": "gpu-big",
        "random_forest": "any worker (cloud-1, gpu-0, gpu-big)",
    }
    assert "resources GPU=3" in plan.to_text()
    check_resources(plan, info)  # every request can be met


def test_cpu_cluster_keeps_keras_on_cpu_with_a_notice_and_refuses_explicit_gpu():
    _, _, plan = prepare(SPEC)
    info = cluster(("cloud-1", {}), ("cloud-2", {}))
    place(plan, info)
    assert plan.candidate("keras_mlp").resources == {}
    notice = [n for n in plan.notices if "offers GPU" in n]
    assert len(notice) == 1 and notice[0].startswith("keras_mlp: no worker of the cluster at tcp://10.0.0.1:8786")
    assert "%stratum cluster connect" in notice[0]
    # an explicit request is kept as asked, and the engine refuses what no worker offers
    with pytest.raises(ClusterError, match="keras_cnn asks for GPU=2"):
        check_resources(plan, info)
