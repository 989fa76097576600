"""Interrupting a run cancels its outstanding tasks on the cluster and registers nothing."""
from __future__ import annotations

import _thread
import threading
import time

import pytest

from jupyter_stratum.errors import TrainingError
from jupyter_stratum.events import TaskFinished
from jupyter_stratum.registry import open_registry
from jupyter_stratum.training import train

pytestmark = pytest.mark.cluster

SLOW_SPEC = """\
data: sklearn:digits
split: {cv: 5}
models:
  - random_forest: {n_estimators: [300, 301, 302, 303]}
"""


def test_keyboard_interrupt_cancels_and_registers_nothing(client):
    finished = []

    def on_event(event):
        if isinstance(event, TaskFinished) and not finished:
            finished.append(event)
            # what Ctrl-C / the notebook's stop button does: KeyboardInterrupt in the main thread
            threading.Timer(0.05, _thread.interrupt_main).start()

    with pytest.raises(TrainingError, match=r"Interrupted: cancelled \d+ outstanding task\(s\).*nothing was registered"):
        train(SLOW_SPEC, name="interrupted", client=client, on_event=on_event)
    assert open_registry().names() == []
    # the cluster is idle again: nothing of that run is still processing
    deadline = time.time() + 30
    while time.time() < deadline and any(client.processing().values()):
        time.sleep(0.2)
    assert not any(client.processing().values())
    assert not [k for k in client.who_has() if str(k).startswith("stratum-")]
