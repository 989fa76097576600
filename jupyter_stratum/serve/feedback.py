"""Request ids, ground-truth labels sent back for them, and the live metric over the labelled window.

Every prediction response carries an ``id``; the runtime remembers the predictions of the last
``remember`` requests under it. ``POST /v2/models/{name}/feedback`` with
``{"ids": [...], "labels": [...]}`` (one label per id; a list of labels for a request of several
rows) pairs labels with those predictions; the last ``window`` labelled rows give the live metric
(accuracy for a classifier, mean absolute error for a regressor). Standard library only: the
runtime is copied into bundles as a standalone package."""

from __future__ import annotations

import itertools
import math
import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError


@dataclass
class FeedbackResult:
    """What one feedback request did."""

    matched: int = 0  # ids found
    rows: int = 0  # labelled rows added to the window
    unknown: list = field(default_factory=list)  # ids not (or no longer) remembered


def _same(label: Any, prediction: Any) -> bool:
    return label == prediction or str(label) == str(prediction)


class FeedbackTracker:
    """Predictions by request id (the newest ``remember`` requests) and the labelled window."""

    def __init__(self, task: str, *, remember: int = 10_000, window: int = 500):
        self.task = task
        self.remember = remember
        self.window = window
        self.metric = "accuracy" if task == "classification" else "mean_absolute_error"
        self._prefix = os.urandom(4).hex()
        self._counter = itertools.count(1)
        self.predictions: OrderedDict[str, list] = OrderedDict()
        self.labelled: deque[tuple[Any, Any]] = deque(maxlen=window)
        self.rows_total = 0
        self.unknown_total = 0

    def new_id(self) -> str:
        """A request id unique to this process (random prefix, counter)."""
        return f"{self._prefix}-{next(self._counter)}"

    def remember_predictions(self, request_id: str, predictions: list) -> None:
        preds = self.predictions
        preds[str(request_id)] = list(predictions)
        while len(preds) > self.remember:
            preds.popitem(last=False)

    def add(self, body: Any) -> FeedbackResult:
        """Pair ``{"ids": [...], "labels": [...]}`` with remembered predictions."""
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("ids"), list)
            or not isinstance(body.get("labels"), list)
        ):
            raise RequestError(
                'send {"ids": [request ids], "labels": [one label per id, or a list of labels for a request of '
                "several rows]}"
            )
        ids, labels = body["ids"], body["labels"]
        if len(ids) != len(labels):
            raise RequestError(f"'ids' has {len(ids)} entries but 'labels' has {len(labels)}; send one label per id")
        result = FeedbackResult()
        pairs: list[tuple[Any, Any]] = []
        for i, (rid, label) in enumerate(zip(ids, labels)):
            predicted = self.predictions.pop(str(rid), None) if isinstance(rid, (str, int)) else None
            if predicted is None:
                result.unknown.append(rid)
                continue
            given = label if isinstance(label, list) else [label]
            if len(given) != len(predicted):
                self.predictions[str(rid)] = predicted  # keep it: the client may send the right count
                raise RequestError(
                    f"labels[{i}] has {len(given)} label(s) but request {rid!r} predicted {len(predicted)} row(s)"
                )
            if self.task != "classification" and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in given
            ):
                raise RequestError(f"labels[{i}]: a regressor's labels must be finite numbers")
            pairs.extend(zip(given, predicted))
            result.matched += 1
        self.labelled.extend(pairs)
        result.rows = len(pairs)
        self.rows_total += len(pairs)
        self.unknown_total += len(result.unknown)
        return result

    def live_metric(self) -> float | None:
        """The metric over the labelled window (None before any label)."""
        if not self.labelled:
            return None
        if self.task == "classification":
            return sum(_same(y, p) for y, p in self.labelled) / len(self.labelled)
        return sum(abs(float(y) - float(p)) for y, p in self.labelled) / len(self.labelled)

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "value": self.live_metric(),
            "labelled_rows": len(self.labelled),
            "window": self.window,
            "feedback_rows_total": self.rows_total,
            "unknown_ids_total": self.unknown_total,
        }

    def render_metrics(self) -> list[str]:
        value = self.live_metric()
        out = [
            "# HELP stratum_live_metric The model's metric over the labelled window (labels sent to /feedback).",
            "# TYPE stratum_live_metric gauge",
        ]
        if value is not None:
            out.append(f'stratum_live_metric{{metric="{self.metric}"}} {value!r}')
        out += [
            "# HELP stratum_labelled_window_rows Labelled rows the live metric is computed over.",
            "# TYPE stratum_labelled_window_rows gauge",
            f"stratum_labelled_window_rows {len(self.labelled)}",
            "# HELP stratum_feedback_rows_total Labelled rows received.",
            "# TYPE stratum_feedback_rows_total counter",
            f"stratum_feedback_rows_total {self.rows_total}",
            "# HELP stratum_feedback_unknown_ids_total Feedback ids the runtime did not (or no longer) remember.",
            "# TYPE stratum_feedback_unknown_ids_total counter",
            f"stratum_feedback_unknown_ids_total {self.unknown_total}",
        ]
        return out
