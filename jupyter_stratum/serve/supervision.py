"""What the runtime does for supervision, around its predictions: request ids, drift tracking
(:mod:`.drift_tracking`), labels and the live metric (:mod:`.feedback`), and the optional row
capture (:mod:`.capture`). :mod:`.app` calls it from a few clearly marked hooks."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from .capture import RowCapture
from .drift_tracking import DriftConfig, DriftTracker
from .feedback import FeedbackTracker


@dataclass
class SupervisionOptions:
    """``--drift-window``, ``--drift-check-every``, ``--drift-ert``, ``--drift-min-interval-ms``, ``--no-drift``, ``--capture N``
    (with ``--capture-dir``), ``--label-window``."""

    drift: bool = True
    window: int = 200
    check_every: int = 50
    ert_rows: float = 1_000_000
    min_interval_s: float = 0.02
    capture: int = 0
    capture_dir: str | None = None
    label_window: int = 500
    shadow: Any = None  # a loaded ServedModel scoring every request in shadow (--shadow BUNDLE)


class Supervision:
    def __init__(self, model, options: SupervisionOptions | None = None):
        options = options or SupervisionOptions()
        self.model = model
        schema = model.schema
        columns = list(getattr(schema, "names", []) or [])
        reference = model.manifest.get("reference")
        self.drift: DriftTracker | None = None
        self.drift_off = ""
        if not options.drift:
            self.drift_off = "turned off (--no-drift)"
        elif not columns:
            self.drift_off = "the model takes tensors, not named columns"
        elif not isinstance(reference, dict) or not reference.get("features"):
            self.drift_off = "the bundle has no reference statistics (rebuild it from a version registered with them)"
        else:
            config = DriftConfig(
                window=options.window,
                check_every=options.check_every,
                ert_rows=options.ert_rows,
                min_interval_s=options.min_interval_s,
            )
            self.drift = DriftTracker(reference, columns, config, model=model.name, version=model.version)
        self.feedback = FeedbackTracker(model.task, window=options.label_window)
        self.shadow = None
        if options.shadow is not None:
            from .shadow import Shadow

            self.shadow = Shadow(options.shadow, model, window=options.label_window)
        self.capture: RowCapture | None = None
        if options.capture:
            directory = options.capture_dir or str(model.root / "capture")
            self.capture = RowCapture(
                directory, options.capture, model=model.name, version=model.version, columns=columns
            )

    def new_id(self) -> str:
        return self.feedback.new_id()

    def observe(self, request_id: Any, batch: Any, predictions: list) -> None:
        """After a response is sent: remember, track and capture. Never raises (a failure here
        must not touch a request already answered)."""
        try:
            rid = str(request_id)
            self.feedback.remember_predictions(rid, predictions)
            if isinstance(batch, list):
                if self.drift is not None:
                    self.drift.observe(batch, predictions)
                if self.capture is not None:
                    self.capture.rows(rid, batch, predictions)
                if self.shadow is not None:
                    self.shadow.observe(rid, batch, len(batch), predictions)
        except Exception as exc:  # noqa: BLE001
            print(f"stratum-serve: supervision skipped a request: {type(exc).__name__}: {exc}", file=sys.stderr)

    def add_feedback(self, body: Any) -> dict:
        result = self.feedback.add(body)
        if (self.capture is not None or self.shadow is not None) and result.matched:
            unknown = {str(u) for u in result.unknown}
            for rid, label in zip(body["ids"], body["labels"]):
                if str(rid) not in unknown:
                    given = label if isinstance(label, list) else [label]
                    if self.capture is not None:
                        self.capture.labels(str(rid), given)
                    if self.shadow is not None:
                        self.shadow.label(str(rid), given)
        return {"matched": result.matched, "rows": result.rows, "unknown": result.unknown, **self.feedback.to_dict()}

    def capture_json(self) -> dict:
        """The captured rows (oldest first) with the labels that came back, for retraining."""
        from dataclasses import asdict

        from .capture import read_capture
        from .errors import RequestError

        if self.capture is None:
            raise RequestError("this runtime keeps no capture: start it with --capture N", status=404, kind="not_found")
        rows = [asdict(r) for r in read_capture(self.capture.dir)]
        return {
            "name": self.model.name,
            "version": self.model.version,
            "columns": self.capture.columns,
            "max_rows": self.capture.max_rows,
            "labelled": sum(r["label"] is not None for r in rows),
            "rows": rows,
        }

    def refresh(self) -> None:
        """Check the rows served since the last check (a scrape or a GET of /drift reads the newest)."""
        drift = self.drift
        if drift is not None and drift.pending and drift.filled + len(drift.pending) >= drift.config.window:
            drift.check()

    def drift_json(self) -> dict:
        self.refresh()
        out: dict[str, Any] = {"name": self.model.name, "version": self.model.version}
        if self.drift is None:
            out.update(enabled=False, reason=self.drift_off)
        else:
            out.update(enabled=True, tracked=self.drift.tracked, **self.drift.report.to_dict())
            out["window_rows"] = min(self.drift.config.window, self.drift.filled + len(self.drift.pending))
        out["live"] = self.feedback.to_dict()
        return out

    def render_metrics(self) -> list[str]:
        self.refresh()
        lines = self.drift.render_metrics() if self.drift is not None else []
        shadow = self.shadow.render_metrics() if self.shadow is not None else []
        return lines + self.feedback.render_metrics() + shadow

    def shadow_json(self) -> dict:
        if self.shadow is None:
            return {"name": self.model.name, "enabled": False, "reason": "no --shadow BUNDLE"}
        return {"name": self.model.name, "champion_version": self.model.version, **self.shadow.to_dict()}
