"""``%stratum models``: the registered models, newest version of each."""

from __future__ import annotations

from dataclasses import dataclass

HELP = "List the registered models (latest version, metric, scores, date)."


def add_arguments(parser) -> None:
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


@dataclass
class ModelsView:
    rows: list[dict]
    root: str

    def to_text(self) -> str:
        from ..display import text_table

        if not self.rows:
            return f"No models registered yet in {self.root}. Train one with %%stratum train NAME."
        return f"Models in {self.root}\n" + text_table(self.rows)

    def _repr_html_(self) -> str:
        import html

        from ..display import html_table

        if not self.rows:
            return f"<p>No models registered yet in <code>{html.escape(self.root)}</code>.</p>"
        return f"<p><b>Models</b> in <code>{html.escape(self.root)}</code></p>" + html_table(self.rows)

    def __repr__(self) -> str:
        return self.to_text()


def run(args, ctx):
    from ..registry import open_registry

    registry = open_registry(args.home)
    rows = []
    for m in registry.list_models():
        rows.append(
            {
                "model": m.name,
                "latest": f"v{m.latest_version}",
                "versions": m.n_versions,
                "task": m.task,
                "algorithm": m.algorithm,
                "metric": m.metric,
                "cv": m.cv_score,
                "holdout": m.holdout_score,
                "updated": str(m.updated_at)[:19],
            }
        )
    return ModelsView(rows, str(registry.root))
