"""``%stratum catalog``: the algorithms a spec can name."""

from __future__ import annotations

from dataclasses import dataclass

HELP = "List the algorithms (scikit-learn, Keras, plugins) a spec can name, with their aliases."


def add_arguments(parser) -> None:
    parser.add_argument("--kind", choices=["classifier", "regressor", "transformer"], help="Only this kind.")
    parser.add_argument("name", nargs="?", help="Show one algorithm's hyperparameters.")


@dataclass
class CatalogView:
    rows: list[dict]

    def to_text(self) -> str:
        from ..display import text_table

        return text_table(self.rows)

    def _repr_html_(self) -> str:
        from ..display import html_table

        return html_table(self.rows)

    def __repr__(self) -> str:
        return self.to_text()


def run(args, ctx):
    from ..catalog import catalog, resolve

    if args.name:
        algo = resolve(args.name, kinds=(args.kind,) if args.kind else ("classifier", "regressor", "transformer"))
        rows = [
            {"parameter": k, "default": p.get("default"), "schema": _short(p)}
            for k, p in algo.schema.get("properties", {}).items()
        ]
        return CatalogView(rows)
    return CatalogView(
        [
            {"name": a.name, "kind": a.kind, "class": a.class_name, "aliases": ", ".join(a.aliases), "source": a.source}
            for a in catalog(args.kind)
        ]
    )


def _short(prop: dict) -> str:
    from ..catalog.algorithm import describe_schema

    return describe_schema({k: v for k, v in prop.items() if k not in ("default", "description")})
