"""``%stratum events NAME`` / ``stratum events NAME [--json]``: a model's event log."""

from __future__ import annotations

import json
from dataclasses import dataclass

HELP = "Show a model's event log (registrations, alias moves, drift alarms, supervisor decisions)."


def add_arguments(parser) -> None:
    parser.add_argument("name", metavar="NAME", help="The model.")
    parser.add_argument("--kind", action="append", help="Only events of this kind (repeatable).")
    parser.add_argument("--after", type=int, default=0, metavar="ID", help="Only events with a larger id.")
    parser.add_argument("--json", action="store_true", help="One JSON list instead of a table.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


@dataclass
class EventsView:
    name: str
    events: list  # ModelEvent
    as_json: bool = False

    def rows(self) -> list[dict]:
        return [
            {
                "id": e.id,
                "time": e.time[:19],
                "kind": e.kind,
                "version": e.version,
                "actor": e.actor,
                "details": json.dumps(e.details, sort_keys=True),
            }
            for e in self.events
        ]

    def to_text(self) -> str:
        from ..display import text_table

        if self.as_json:
            return json.dumps([e.to_dict() for e in self.events], indent=2)
        if not self.events:
            return f"No events for {self.name}."
        return text_table(self.rows())

    def _repr_html_(self) -> str:
        import html

        from ..display import html_table

        if not self.events:
            return f"<p>No events for {html.escape(self.name)}.</p>"
        return html_table(self.rows())

    def __repr__(self) -> str:
        return self.to_text()


def run(args, ctx):
    from ..registry import open_registry

    registry = open_registry(args.home)
    registry.get(args.name)  # a helpful error for an unknown model
    kinds = tuple(args.kind) if args.kind else None
    return EventsView(args.name, registry.events(args.name, after_id=args.after, kinds=kinds), args.json)
