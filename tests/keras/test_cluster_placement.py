"""A real heterogeneous cluster: scheduler, a CPU worker and a worker advertising GPU=1 (run as
subprocesses). Keras tasks land only on the GPU-labelled worker; scikit-learn tasks on both.

Here the GPU worker has no GPU: TensorFlow runs on its CPU, which is what the placement
test needs (Dask routes by the advertised resource, whatever the hardware).
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from jupyter_stratum.events import Notice, TaskFinished
from jupyter_stratum.training import dry_run, train

needs_tf = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="TensorFlow is not installed (pip install -e '.[tensorflow]')",
)

pytestmark = [pytest.mark.cluster, pytest.mark.tensorflow, pytest.mark.slow, needs_tf]

MIXED = """\
data: sklearn:digits
split: {test_size: 0.2, cv: 2, seed: 0}
preprocess: [standard_scaler]
models:
  - keras_mlp: {hidden_layer_sizes: [64], epochs: 40, batch_size: 128, patience: 8}
  - logistic_regression: {C: [0.1, 1]}
metric: accuracy
metrics: [accuracy, log_loss]
"""
KERAS_ONLY = MIXED.replace("  - logistic_regression: {C: [0.1, 1]}\n", "")


@pytest.fixture
def hetero(dask_factory):
    from distributed import Client

    procs = dask_factory(workers={"cpu-1": (), "gpu-1": ("--resources", "GPU=1")})
    client = Client(procs.address, timeout=30, set_as_default=False)
    yield procs, client
    client.close()


def _tf_imported():
    return "tensorflow" in sys.modules


def _tf_config():
    from jupyter_stratum.keras.runtime import current_config

    c = current_config()
    return None if c is None else {"threads": c.threads, "gpu_worker": c.gpu_worker, "worker": c.worker}


def test_keras_only_on_gpu_worker_sklearn_anywhere(hetero):
    procs, client = hetero
    plan = dry_run(MIXED, client=client)
    rows = {r["candidate"]: r for r in plan.rows()}
    assert rows["keras_mlp"]["resources"] == "GPU=1" and rows["keras_mlp"]["runs on"] == "gpu-1"
    assert rows["logistic_regression(C=0.1)"]["runs on"] == "any worker (cpu-1, gpu-1)"
    assert "no worker" not in plan.to_text()

    events = []
    result = train(MIXED, client=client, on_event=events.append, register=False)
    finished = [e for e in events if isinstance(e, TaskFinished)]
    keras_workers = {e.worker for e in finished if e.candidate_id == "keras_mlp"}
    assert keras_workers == {"gpu-1"}
    assert len([e for e in finished if e.candidate_id == "keras_mlp"]) == 2
    sk = [e for e in finished if e.candidate_id.startswith("logistic")]
    assert len(sk) == 4 and {e.worker for e in sk} <= {"cpu-1", "gpu-1"}
    assert not [e for e in events if isinstance(e, Notice) and "GPU" in e.message]

    # TensorFlow was imported (and configured with the worker's one thread) only where Keras trained
    assert client.run(_tf_imported) == {
        w: (w_info["name"] == "gpu-1") for w, w_info in client.scheduler_info(n_workers=-1)["workers"].items()
    }
    configs = {v["worker"]: v for v in client.run(_tf_config).values() if v}
    assert configs == {"gpu-1": {"threads": 1, "gpu_worker": True, "worker": "gpu-1"}}

    # the keras candidate keeps its training history per fold
    keras = result.candidate("keras_mlp")
    assert len(keras.histories) == 2 and all(len(h["loss"]) >= 1 and "val_accuracy" in h for h in keras.histories)

    # keras_mlp alone: it wins, is refit on the GPU worker, reaches >= 0.95 holdout accuracy
    # (scored with scikit-learn's own function) and is registered with the keras flavor
    events = []
    result = train(KERAS_ONLY, name="digits", client=client, on_event=events.append)
    assert {e.worker for e in events if isinstance(e, TaskFinished)} == {"gpu-1"}
    assert any(e.kind == "RefitFinished" and e.worker == "gpu-1" for e in events)
    X, y = load_digits(return_X_y=True, as_frame=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    model = result.model
    acc = accuracy_score(y_test, model.predict(X_test))
    assert acc >= 0.95
    assert result.holdout_scores["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert model[-1].n_epochs_ >= 1 and len(model[-1].history_["loss"]) == model[-1].n_epochs_

    assert result.version.flavor == "keras" and result.version.artifact.endswith(".keras-pipeline.zip")
    from jupyter_stratum import load

    loaded = load("digits")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))


def test_sklearn_tasks_use_both_workers_and_keras_on_cpu_without_gpu(hetero, dask_factory):
    procs, client = hetero
    spec = """\
data: sklearn:digits
split: {test_size: 0.2, cv: 4, seed: 0}
models:
  - random_forest: {n_estimators: [40, 60]}
"""
    events = []
    train(spec, client=client, on_event=events.append, register=False)
    workers = {e.worker for e in events if isinstance(e, TaskFinished)}
    assert workers == {"cpu-1", "gpu-1"}

    # a cluster without any GPU worker: Keras runs on the CPU workers, with a notice
    from distributed import Client

    cpu_only = dask_factory(workers={"cpu-a": ()})
    with Client(cpu_only.address, timeout=30, set_as_default=False) as c2:
        plan = dry_run(MIXED, client=c2)
        assert plan.candidate("keras_mlp").resources == {}
        assert any("keras_mlp: no worker of the cluster" in n and "offers GPU" in n for n in plan.notices)
        assert {r["candidate"]: r["runs on"] for r in plan.rows()}["keras_mlp"] == "any worker (cpu-a)"
