"""``--capture N``: the last N served rows (inputs, prediction, label when it arrives) on disk,
for retraining. Off by default: served rows may hold personal data, and an edge host's disk
(often an SD card) should not be written on every request unless someone asked for it.

Two JSON-lines segments in the capture directory, ``capture.0.jsonl`` (older) and
``capture.1.jsonl`` (current); when the current one holds N/2 rows it replaces the older one and
a new one starts, so between N/2 and N rows (plus their label lines) are kept and the disk use is
bounded. ``meta.json`` names the model and its columns. Standard library only."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEGMENTS = ("capture.0.jsonl", "capture.1.jsonl")


@dataclass
class CapturedRow:
    """One served row as captured: its request id, when, the inputs by column, the prediction and
    the label (None until feedback gave one)."""

    id: str
    time: float
    row: dict
    prediction: Any
    label: Any = None


class RowCapture:
    def __init__(self, directory: str | os.PathLike, max_rows: int, *, model: str, version: str, columns: list[str]):
        if max_rows < 2:
            raise ValueError(f"--capture must be at least 2 rows, got {max_rows}")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_rows = int(max_rows)
        self.segment_rows = max(1, self.max_rows // 2)
        self.columns = list(columns)
        (self.dir / "meta.json").write_text(
            json.dumps({"model": model, "version": version, "columns": columns, "max_rows": self.max_rows})
        )
        current = self.dir / SEGMENTS[1]
        self.rows_in_current = _count_rows(current) if current.exists() else 0
        self.fh = open(current, "a", encoding="utf-8")  # noqa: SIM115 - held for the process' life

    def rows(self, request_id: str, rows: list, predictions: list) -> None:
        if self.rows_in_current >= self.segment_rows:
            self._rotate()
        line = {"id": request_id, "t": round(time.time(), 3), "rows": rows, "predictions": predictions}
        self.fh.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
        self.fh.flush()
        self.rows_in_current += len(rows)

    def labels(self, request_id: str, labels: list) -> None:
        self.fh.write(json.dumps({"id": request_id, "labels": labels}, separators=(",", ":"), default=str) + "\n")
        self.fh.flush()

    def _rotate(self) -> None:
        self.fh.close()
        os.replace(self.dir / SEGMENTS[1], self.dir / SEGMENTS[0])
        self.fh = open(self.dir / SEGMENTS[1], "a", encoding="utf-8")  # noqa: SIM115
        self.rows_in_current = 0

    def close(self) -> None:
        self.fh.close()


def _count_rows(path: Path) -> int:
    n = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                n += len(json.loads(line).get("rows") or [])
            except ValueError:
                continue
    return n


def read_capture(directory: str | os.PathLike) -> list[CapturedRow]:
    """The captured rows, oldest first, with the labels that arrived for them."""
    root = Path(directory)
    meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    columns = meta["columns"]
    requests: dict[str, dict] = {}
    labels: dict[str, list] = {}
    for name in SEGMENTS:
        path = root / name
        if not path.exists():
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:  # a line cut by a crash
                    continue
                if "rows" in entry:
                    requests[str(entry["id"])] = entry
                elif "labels" in entry:
                    labels[str(entry["id"])] = entry["labels"]
    out = []
    for rid, entry in requests.items():
        given = labels.get(rid) or [None] * len(entry["rows"])
        for row, pred, label in zip(entry["rows"], entry["predictions"], given):
            out.append(CapturedRow(rid, float(entry["t"]), dict(zip(columns, row)), pred, label))
    return out
