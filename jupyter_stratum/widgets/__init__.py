"""Notebook views of training: live progress and the evaluation view (ipywidgets + Bokeh).

Views render from the events and results the core returns; they never call
Dask. Submodules import Bokeh and ipywidgets, so import them only when a view
is shown: ``plots`` (Bokeh figures), ``training_view`` (live progress),
``evaluation_view`` (tabs after a run), ``report`` (standalone HTML).
"""

from __future__ import annotations


def evaluation_view(result):
    """The :class:`~.evaluation_view.EvaluationView` of a finished run."""
    from .evaluation_view import EvaluationView

    return EvaluationView(result)


def training_view(**kwargs):
    """A :class:`~.training_view.TrainingView` (pass it as ``on_event``); displays itself."""
    from .training_view import TrainingView

    return TrainingView(**kwargs)


def write_report(result, path):
    from .report import write_report as _write

    return _write(result, path)


def notebook_progress(cluster: str | None = None, title: str | None = None):
    """The richest progress view this notebook can show: the live widget view (progress bar,
    running leaderboard, worker CPU/memory from the scheduler of ``cluster``), else
    :class:`~jupyter_stratum.training.progress.NotebookProgress` (no kernel with comms, or
    ipywidgets/Bokeh missing)."""
    try:
        from .evaluation_view import widgets_available

        if widgets_available():
            from ..cluster.metrics import poller_for
            from .training_view import TrainingView

            return TrainingView(metrics=poller_for(cluster), title=title)
    except ImportError:
        pass
    from ..training.progress import NotebookProgress

    return NotebookProgress()
