"""``--shadow BUNDLE``: a candidate model that sees every request the champion answers; its answers are
never returned. Agreement with the champion over every row, and both models' metric over the same
labelled rows (labels sent to /feedback), on ``GET /v2/models/NAME/shadow`` and /metrics. Standard
library only (the runtime is copied into bundles).

Errors count requests whose rows the candidate could not predict (a whole queued batch fails together)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Any

from .errors import BundleLoadError
from .feedback import _same


class Shadow:
    """The candidate predicts the rows of many requests at once (up to ``flush_rows``, or before labels
    are matched or figures read): one model call per batch costs far less than one per request."""

    def __init__(self, model, champion, *, remember: int = 10_000, window: int = 500, flush_rows: int = 64):
        if list(getattr(model.schema, "names", []) or []) != list(getattr(champion.schema, "names", []) or []):
            raise BundleLoadError(
                f"--shadow: {model.name} version {model.version} takes other inputs than {champion.name} version "
                f"{champion.version}; a shadow must take the champion's columns"
            )
        self.model = model
        self.task = champion.task
        self.metric = "accuracy" if self.task == "classification" else "mean_absolute_error"
        self.remember = remember
        self.flush_rows = flush_rows
        self.pending: OrderedDict[str, tuple[list, list]] = OrderedDict()
        self.labelled: deque[tuple[Any, Any, Any]] = deque(maxlen=window)  # (label, champion, shadow)
        self.rows_total = 0
        self.agree_total = 0.0  # rows alike (classifier) or the sum of |difference| (regressor)
        self.errors_total = 0
        self.queue: list[tuple[str, list, list]] = []  # (request id, rows, champion's predictions)
        self.queued_rows = 0
        self.lock = threading.Lock()

    def observe(self, request_id: str, batch: Any, n: int, champion: list) -> None:
        with self.lock:
            self.queue.append((request_id, list(batch), list(champion)))
            self.queued_rows += n
            full = self.queued_rows >= self.flush_rows
        if full:
            self.flush()

    def flush(self) -> None:
        """Predict the queued requests' rows in one call and compare with the champion's answers."""
        with self.lock:
            queue, self.queue, self.queued_rows = self.queue, [], 0
            if not queue:
                return
            rows = [row for _, batch, _ in queue for row in batch]
            try:
                predictions, _ = self.model.predict(rows, len(rows))
            except Exception:  # noqa: BLE001 - a failing shadow never touches the champion's answers
                self.errors_total += len(queue)
                return
            predictions = list(predictions)
            start = 0
            for request_id, batch, champion in queue:
                mine = predictions[start : start + len(batch)]
                start += len(batch)
                self.rows_total += len(mine)
                if self.task == "classification":
                    self.agree_total += sum(_same(a, b) for a, b in zip(champion, mine))
                else:
                    self.agree_total += sum(abs(float(a) - float(b)) for a, b in zip(champion, mine))
                self.pending[request_id] = (champion, mine)
            while len(self.pending) > self.remember:
                self.pending.popitem(last=False)

    def label(self, request_id: str, labels: list) -> None:
        self.flush()
        with self.lock:
            found = self.pending.pop(request_id, None)
            if found is not None and len(found[0]) == len(labels):
                self.labelled.extend(zip(labels, found[0], found[1]))

    def _metric(self, i: int) -> float | None:
        if not self.labelled:
            return None
        if self.task == "classification":
            return sum(_same(row[0], row[i]) for row in self.labelled) / len(self.labelled)
        return sum(abs(float(row[0]) - float(row[i])) for row in self.labelled) / len(self.labelled)

    def to_dict(self) -> dict:
        self.flush()
        agreement = self.agree_total / self.rows_total if self.rows_total else None
        return {
            "enabled": True,
            "version": self.model.version,
            "rows": self.rows_total,
            "errors": self.errors_total,
            ("agreement" if self.task == "classification" else "mean_absolute_difference"): agreement,
            "metric": self.metric,
            "labelled_rows": len(self.labelled),
            "champion_value": self._metric(1),
            "shadow_value": self._metric(2),
        }

    def render_metrics(self) -> list[str]:
        d = self.to_dict()
        out = [
            "# HELP stratum_shadow_info The candidate model scoring every request in shadow (answers not returned).",
            "# TYPE stratum_shadow_info gauge",
            f'stratum_shadow_info{{version="{self.model.version}"}} 1',
            "# TYPE stratum_shadow_rows_total counter",
            f"stratum_shadow_rows_total {self.rows_total}",
            "# TYPE stratum_shadow_errors_total counter",
            f"stratum_shadow_errors_total {self.errors_total}",
            "# TYPE stratum_shadow_labelled_rows gauge",
            f"stratum_shadow_labelled_rows {len(self.labelled)}",
        ]
        key = "agreement" if self.task == "classification" else "mean_absolute_difference"
        if d[key] is not None:
            out.append(f"stratum_shadow_{key} {d[key]!r}")
        for who in ("champion", "shadow"):
            if d[f"{who}_value"] is not None:
                out.append(f'stratum_shadow_metric{{metric="{self.metric}",model="{who}"}} {d[f"{who}_value"]!r}')
        return out
