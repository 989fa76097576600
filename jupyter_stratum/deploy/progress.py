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
    "done": "#2e7d32",
    "pending": "#9e9e9e",
    "running": "#1565c0",
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
    """An ipywidgets fleet view: a summary line, then one row per host with its wave, status,
    version (from → to), the step it is at, seconds and error. Fed by events (``view(event)``)
    and, for a rollout, by its record whenever a host's state changes (``view.update(rollout)``)."""

    def __init__(self, hosts: list[str], title: str = "deployment"):
        import ipywidgets as w

        self.hosts = list(hosts)
        self.counts = {h: {"ok": 0, "changed": 0, "failed": 0, "skipped": 0} for h in self.hosts}
        self.last = {h: ("waiting", "") for h in self.hosts}
        self.started: dict[str, float] = {}
        self.rollout = None
        self.title = title
        self.widget = w.HTML(self._render())

    def __call__(self, event) -> None:
        if event.host not in self.counts:
            self.hosts.append(event.host)
            self.counts[event.host] = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0}
        self.started.setdefault(event.host, event.time)
        c = self.counts[event.host]
        key = event.status if event.status in c else "failed"
        c[key] += 1
        if event.status != "skipped":
            self.last[event.host] = (event.status, event.step + (f": {event.message}" if event.message else ""))
        self.widget.value = self._render()

    def update(self, rollout) -> None:
        """Show the rollout record's view of every host (wave, state, versions, step, seconds)."""
        self.rollout = rollout
        for h in rollout.hosts:
            if h.host not in self.counts:
                self.hosts.append(h.host)
                self.counts[h.host] = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0}
        self.widget.value = self._render()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _render(self) -> str:
        import time

        ro: dict[str, Any] = {h.host: h for h in self.rollout.hosts} if self.rollout is not None else {}
        rows, states, versions = [], [], []
        for h in self.hosts:
            status, step = self.last.get(h, ("waiting", ""))
            rh = ro.get(h)
            if rh is not None:
                status, step = rh.state, rh.step or step
                version = f"{rh.from_version or '-'} → {rh.version or '-'}"
                seconds = f"{rh.seconds:.0f}" if rh.seconds else ""
                wave, error = str(rh.wave), rh.error
                states.append(rh.state)
                versions.append(rh.version)
            else:
                version, wave, error = "", "", step.split(": ", 1)[1] if ": " in step else ""
                seconds = f"{time.time() - self.started[h]:.0f}" if h in self.started else ""
                states.append(status)
            c = self.counts[h]
            colour = _COLOURS.get(status, "#555")
            rows.append(
                f"<tr><td><b>{html.escape(h)}</b></td><td>{html.escape(wave)}</td>"
                f"<td style='color:{colour}'>{html.escape(status)}</td><td>{html.escape(version)}</td>"
                f"<td>{html.escape(step.split(': ', 1)[0][:80])}</td><td>{seconds}</td>"
                f"<td>{c['ok']}/{c['changed']}/{c['failed']}</td>"
                f"<td style='color:#c62828'>{html.escape(error[:160])}</td></tr>"
            )
        line = fleet_line(states, versions) if rows else ""
        return (
            f"<div><b>{html.escape(self.title)}</b> <span>{html.escape(line)}</span><table>"
            "<tr><th>host</th><th>wave</th><th>status</th><th>version</th><th>step</th><th>s</th>"
            "<th>ok/changed/failed</th><th>error</th></tr>" + "".join(rows) + "</table></div>"
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


_SUMMARY_HEADERS = ["host", "address", "status", "version", "from", "wave", "step", "seconds", "error"]


def _summary_rows(result) -> list[list[Any]]:
    return [
        [
            r["host"],
            r["address"],
            r["status"],
            r["version"] or "-",
            r["from"] or "-",
            r["wave"],
            (r["step"] or "")[:40],
            r["seconds"],
            r["error"][:120],
        ]
        for r in result.rows()
    ]


def _failed_note(result) -> str:
    bad = result.failed_hosts
    if not bad:
        return ""
    return f" ({len(bad)} of {len(result.hosts)} hosts failed: {', '.join(h.host for h in bad)})"


def fleet_line(states: list[str], versions: list[str]) -> str:
    """``20 hosts: 17 done, 1 rolled_back, 1 unreachable, 1 not_reached; serving v2 on 17, v1 on 2``:
    the fleet in one line, mixed versions visible."""
    from collections import Counter

    by_state = Counter(states)
    by_version = Counter(v for v in versions if v)
    line = f"{len(states)} hosts: " + ", ".join(f"{n} {s}" for s, n in by_state.most_common())
    if by_version:
        line += "; serving " + ", ".join(f"v{v} on {n}" for v, n in sorted(by_version.items(), reverse=True))
    none = sum(1 for v in versions if not v)
    if none:
        line += f"; nothing on {none}"
    return line


def _result_line(result) -> str:
    ro = getattr(result, "rollout", None)
    if ro is not None:
        return fleet_line([h.state for h in ro.hosts], [h.version for h in ro.hosts])
    return fleet_line([h.status for h in result.hosts], [h.version for h in result.hosts])


def summary_text(result) -> str:
    ro = getattr(result, "rollout", None)
    head = (
        f"{result.action} {result.model}{' (dry run)' if result.dry_run else ''}: {result.status}"
        f"{_failed_note(result)} in {result.duration_s:.1f} s"
        + (f", record #{result.record_id}" if result.record_id else "")
        + (f", rollout #{ro.id} {ro.state}" if ro is not None else "")
    )
    lines = [head, _result_line(result), *getattr(result, "notes", [])]
    if ro is not None and ro.reason:
        lines.append(f"halted: {ro.reason}" if ro.state == "halted" else ro.reason)
    return "\n".join(lines + [_table_text(_SUMMARY_HEADERS, _summary_rows(result)), f"project: {result.project}"])


def summary_html(result) -> str:
    ro = getattr(result, "rollout", None)
    head = (
        f"<b>{html.escape(result.action)} {html.escape(result.model)}</b>"
        f"{' (dry run)' if result.dry_run else ''}: "
        f"<span style='color:{_COLOURS.get(result.status, '#000')}'>{html.escape(result.status)}</span>"
        f"{html.escape(_failed_note(result))} in {result.duration_s:.1f} s"
        + (f", record #{result.record_id}" if result.record_id else "")
        + (f", rollout #{ro.id} {html.escape(ro.state)}" if ro is not None else "")
    )
    reason = f"<div>{html.escape(ro.reason)}</div>" if ro is not None and ro.reason else ""
    reason += "".join(f"<div>{html.escape(n)}</div>" for n in getattr(result, "notes", []))
    return (
        f"<div>{head}<div>{html.escape(_result_line(result))}</div>{reason}"
        f"{_table_html(_SUMMARY_HEADERS, _summary_rows(result), status_col=2)}"
        f"<small>project: {html.escape(str(result.project))}</small></div>"
    )


#: ``stratum rollout status`` exit status per rollout state
ROLLOUT_EXIT = {"done": 0, "partial": 3, "halted": 3, "aborted": 3, "failed": 4, "running": 5, "aborting": 5}
ROLLOUT_EXIT_HELP = (
    "Exit status: 0 when the rollout finished with every host deployed, 3 when it finished with some hosts "
    "failed, rolled back, unreachable or not reached (partial, halted, aborted), 4 when every host failed, "
    "5 while it is still running or was interrupted (resume it), 2 for a usage error or nothing to do."
)
_ROLLOUT_HEADERS = ["host", "wave", "state", "from", "version", "step", "seconds", "error"]


class RolloutView:
    """A rollout record as a table: per host wave, state, versions from → to, step, seconds, error."""

    def __init__(self, rollout, title: str = ""):
        self.rollout = rollout
        self.title = title
        self.exit_code_override: int | None = None

    @property
    def exit_code(self) -> int:
        if self.exit_code_override is not None:
            return self.exit_code_override
        state = self.rollout.live_state
        return 5 if state == "interrupted" else ROLLOUT_EXIT.get(state, 0)

    def _head(self) -> str:
        ro = self.rollout
        waves = ",".join(str(w) for w in ro.waves) or "one wave"
        gate = (
            f"soak {ro.gate.soak_s:g} s, error rate <= {ro.gate.max_error_rate:.1%}, p99 <= {ro.gate.max_p99_ms:g} ms"
            if ro.gate.soak_s
            else "no soak"
        )
        return (
            f"{self.title + ': ' if self.title else ''}rollout #{ro.id} of {ro.model} ({ro.release}): "
            f"{ro.live_state}; waves {waves} ({ro.n_waves}); gate: {gate}"
            + (f"; max fail {ro.max_fail_percent}%" if ro.max_fail_percent is not None else "")
        )

    def _rows(self) -> list[list[Any]]:
        return [
            [h.host, h.wave, h.state, h.from_version or "-", h.version or "-", h.step[:40], h.seconds, h.error[:120]]
            for h in self.rollout.hosts
        ]

    def _line(self) -> str:
        return fleet_line([h.state for h in self.rollout.hosts], [h.version for h in self.rollout.hosts])

    def to_text(self) -> str:
        ro = self.rollout
        lines = [self._head(), self._line()]
        if ro.reason:
            lines.append(ro.reason)
        if ro.live_state == "interrupted":
            lines.append(f"Its process ({ro.owner}) is gone: `stratum rollout resume {ro.name}` finishes it.")
        return "\n".join(lines + [_table_text(_ROLLOUT_HEADERS, self._rows())])

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.to_text())

    def _repr_html_(self) -> str:
        ro = self.rollout
        return (
            f"<div><b>{html.escape(self._head())}</b><div>{html.escape(self._line())}</div>"
            + (f"<div>{html.escape(ro.reason)}</div>" if ro.reason else "")
            + _table_html(_ROLLOUT_HEADERS, self._rows(), status_col=2)
            + "</div>"
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
