"""Interrupting a run cancels its outstanding tasks on the cluster and registers nothing."""

from __future__ import annotations

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
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, TaskFinished) and not finished:
            finished.append(event)
            # what Ctrl-C / the notebook's stop button does: KeyboardInterrupt in the main thread,
            # in the middle of the run. Raised here rather than by a timer calling
            # _thread.interrupt_main(): that one is silently dropped whenever the process's
            # SIGINT handler is not Python's (a CI run once saw the run finish uninterrupted).
            raise KeyboardInterrupt

    try:
        with pytest.raises(
            TrainingError, match=r"Interrupted: cancelled \d+ outstanding task\(s\).*nothing was registered"
        ):
            train(SLOW_SPEC, name="interrupted", client=client, on_event=on_event)
    except KeyboardInterrupt:
        pytest.fail("the KeyboardInterrupt escaped train(): it must cancel the run and become a TrainingError")
    assert open_registry().names() == []
    # nothing of that run is left on the cluster: no task processing, no result held
    run_prefix = finished[0].key.rsplit("-", 2)[0] + "-"

    def leftovers():
        processing = [k for keys in client.processing().values() for k in keys if str(k).startswith(run_prefix)]
        held = [k for k in client.who_has() if str(k).startswith(run_prefix)]
        return processing + held

    deadline = time.time() + 60
    while time.time() < deadline and leftovers():
        time.sleep(0.2)
    assert leftovers() == []
    n_tasks = next(e.n_tasks for e in events if e.kind == "PlanReady")
    assert len([e for e in events if isinstance(e, TaskFinished)]) < n_tasks
