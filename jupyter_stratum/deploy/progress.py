"""Showing deployments: a live host × step widget, CLI lines, summary and record tables.

Everything here renders from :class:`~.runner.DeployEvent` and the results the core
returns; nothing here calls Ansible.
"""

from __future__ import annotations

import html
import sys
from typing import Any

_COLOURS = {
    "ok": "#2e7d32",
    "partial": "#ef6c00",
    "not_reached": "#9e9e9e",
    "changed": "#ef6c00",
    "failed": "#c62828",
    "unreachable": "#6a1b9a",
    "skipped": "#9e9e9e",
    "rolled_back": "#c62828",
    "unchanged": "#2e7d32",
    "removed": "#455a64",
    "checked": "#1565c0",
    "deployed": "#ef6c00",
}


class CliProgress:
    """Prints one line per host and step (skipped steps are left out)."""

    def __init__(self, stream=None, show_skipped: bool = False):
        self.stream = stream or sys.stdout
        self.show_skipped = show_skipped

    def __call__(self, event) -> None:
        if event.status == "skipped" and not self.show_skipped:
            return
        print(event.to_line(), file=self.stream, flush=True)


class DeployProgress:
    """An ipywidgets table: one row per host, the last step and counts of ok / changed / failed."""

    def __init__(self, hosts: list[str], title: str = "deployment"):
        import ipywidgets as w

        self.hosts = list(hosts)
        self.counts = {h: {"ok": 0, "changed": 0, "failed": 0, "skipped": 0} for h in self.hosts}
        self.last = {h: ("waiting", "") for h in self.hosts}
        self.title = title
        self.widget = w.HTML(self._render())

    def __call__(self, event) -> None:
        if event.host not in self.counts:
            self.hosts.append(event.host)
            self.counts[event.host] = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0}
        c = self.counts[event.host]
        key = event.status if event.status in c else "failed"
        c[key] += 1
        if event.status != "skipped":
            self.last[event.host] = (event.status, event.step + (f": {event.message}" if event.message else ""))
        self.widget.value = self._render()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _render(self) -> str:
        rows = []
        for h in self.hosts:
            status, step = self.last.get(h, ("waiting", ""))
            c = self.counts[h]
            colour = _COLOURS.get(status, "#555")
            rows.append(
                f"<tr><td><b>{html.escape(h)}</b></td>"
                f"<td style='color:{colour}'>{html.escape(status)}</td>"
                f"<td>{html.escape(step[:160])}</td>"
                f"<td>{c['ok']}</td><td>{c['changed']}</td><td>{c['failed']}</td></tr>"
            )
        return (
            f"<div><b>{html.escape(self.title)}</b><table>"
            "<tr><th>host</th><th>last</th><th>step</th><th>ok</th><th>changed</th><th>failed</th></tr>"
            + "".join(rows)
            + "</table></div>"
        )


def _table_text(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _table_html(headers: list[str], rows: list[list[Any]], status_col: int | None = None) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>"]
    for r in rows:
        tds = []
        for i, c in enumerate(r):
            style = f" style='color:{_COLOURS.get(str(c), '#000')}'" if i == status_col else ""
            tds.append(f"<td{style}>{html.escape(str(c))}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    return "".join(out) + "</table>"


_SUMMARY_HEADERS = ["host", "address", "status", "version", "release", "changed", "error"]


def _summary_rows(result) -> list[list[Any]]:
    return [
        [r["host"], r["address"], r["status"], r["version"], r["release"], r["changed"], r["error"][:120]]
        for r in result.rows()
    ]


def _failed_note(result) -> str:
    bad = result.failed_hosts
    if not bad:
        return ""
    return f" ({len(bad)} of {len(result.hosts)} hosts failed: {', '.join(h.host for h in bad)})"


def summary_text(result) -> str:
    head = (
        f"{result.action} {result.model}{' (dry run)' if result.dry_run else ''}: {result.status}"
        f"{_failed_note(result)} in {result.duration_s:.1f} s"
        + (f", record #{result.record_id}" if result.record_id else "")
    )
    return head + "\n" + _table_text(_SUMMARY_HEADERS, _summary_rows(result)) + f"\nproject: {result.project}"


def summary_html(result) -> str:
    head = (
        f"<b>{html.escape(result.action)} {html.escape(result.model)}</b>"
        f"{' (dry run)' if result.dry_run else ''}: "
        f"<span style='color:{_COLOURS.get(result.status, '#000')}'>{html.escape(result.status)}</span>"
        f"{html.escape(_failed_note(result))} in {result.duration_s:.1f} s"
        + (f", record #{result.record_id}" if result.record_id else "")
    )
    return (
        f"<div>{head}{_table_html(_SUMMARY_HEADERS, _summary_rows(result), status_col=2)}"
        f"<small>project: {html.escape(str(result.project))}</small></div>"
    )


class DeploymentTable(list):
    """Deployment records (:class:`~jupyter_stratum.registry.Deployment`), shown as a table."""

    headers = ["id", "time", "model", "action", "status", "hosts", "user"]

    def _rows(self) -> list[list[Any]]:
        rows = []
        for dep in self:
            hosts = ", ".join(f"{h.host}={h.status}" + (f"@{h.version}" if h.version else "") for h in dep.hosts)
            rows.append([dep.id, dep.time[:19], dep.model, dep.action, dep.status, hosts, dep.user])
        return rows

    def to_text(self) -> str:
        if not self:
            return "No deployments recorded."
        return _table_text(self.headers, self._rows())

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.to_text())

    def _repr_html_(self) -> str:
        if not self:
            return "<i>No deployments recorded.</i>"
        return _table_html(self.headers, self._rows(), status_col=4)
