"""``%stratum alias NAME@VERSION ALIAS`` / ``stratum alias NAME``: set, move, delete and list aliases."""

from __future__ import annotations

from dataclasses import dataclass

HELP = "Point an alias (champion, challenger, ...) at a model version, remove one, or list a model's aliases."


def add_arguments(parser) -> None:
    parser.add_argument(
        "ref", metavar="NAME[@VERSION]", help="The model (to list its aliases) or the version to point at."
    )
    parser.add_argument("alias", nargs="?", metavar="ALIAS", help="The alias to set or move (e.g. champion).")
    parser.add_argument("--delete", action="store_true", help="Remove ALIAS from model NAME instead.")
    parser.add_argument("--reason", default="", help="Why (kept in the event log).")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


@dataclass
class AliasView:
    name: str
    rows: list[dict]
    message: str = ""

    def to_text(self) -> str:
        from ..display import text_table

        head = f"{self.message}\n" if self.message else ""
        if not self.rows:
            return head + f"{self.name} has no aliases. Set one with `stratum alias {self.name}@VERSION champion`."
        return head + text_table(self.rows)

    def _repr_html_(self) -> str:
        import html

        from ..display import html_table

        head = f"<p>{html.escape(self.message)}</p>" if self.message else ""
        return head + html_table(self.rows) if self.rows else head + f"<p>{html.escape(self.name)} has no aliases.</p>"

    def __repr__(self) -> str:
        return self.to_text()


def run(args, ctx):
    from ..registry import open_registry
    from ..registry.refs import split_ref
    from . import CommandLineError

    registry = open_registry(args.home)
    ref = split_ref(args.ref)
    message = ""
    if args.alias is not None:
        if args.delete:
            if ref.version is not None or ref.alias is not None:
                raise CommandLineError(f"To remove an alias write `stratum alias {ref.name} {args.alias} --delete`.")
            old = registry.delete_alias(ref.name, args.alias, reason=args.reason)
            message = f"Removed {ref.name}@{args.alias} (it pointed at version {old})."
        else:
            if ref.version is None and ref.alias is None:
                raise CommandLineError(
                    f"Say which version {args.alias!r} points at: `stratum alias {ref.name}@VERSION {args.alias}` "
                    f"(or {ref.name}@OTHER_ALIAS to copy another alias)."
                )
            version = registry.get(args.ref).version
            alias = registry.set_alias(ref.name, args.alias, version, reason=args.reason)
            message = f"{alias.ref} -> version {alias.version}"
    elif args.delete:
        raise CommandLineError(f"Name the alias to remove: `stratum alias {ref.name} ALIAS --delete`.")
    rows = [
        {"alias": a.ref, "version": a.version, "since": a.updated_at[:19], "by": a.updated_by}
        for a in registry.aliases(ref.name)
    ]
    return AliasView(ref.name, rows, message)
