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
