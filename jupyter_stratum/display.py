"""Plain text and HTML tables: the fallback every view has where widgets can't render."""

from __future__ import annotations

import html
import math
from typing import Any


def fmt(value: Any) -> str:
    """A cell of a table: floats with at most 4 significant digits after the point (11.8, 0.9512,
    6.51), never padded with zeros; large ones with thousands separators."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def fmt_seconds(seconds: float) -> str:
    """A duration as every view writes it: 0.4 s, 6.5 s, 12 s, 2 min 05 s."""
    seconds = max(float(seconds), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def fmt_bytes(n: float) -> str:
    """A memory size: 512 MiB, 11.8 GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n:.0f} B"


def text_table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def html_table(
    rows: list[dict], columns: list[str] | None = None, highlight: int | None = None, css_class: str = "stratum-table"
) -> str:
    if not rows:
        return "<p>(none)</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for i, r in enumerate(rows):
        style = ' style="font-weight:bold;background:rgba(46,125,50,0.12)"' if i == highlight else ""
        cells = "".join(f"<td>{html.escape(fmt(r.get(c)))}</td>" for c in columns)
        body.append(f"<tr{style}>{cells}</tr>")
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
