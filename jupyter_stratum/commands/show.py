"""``%stratum show NAME[@V]``: one model version and its lineage."""

from __future__ import annotations

from dataclasses import dataclass

HELP = "Show a model version: scores, params, lineage (spec, data fingerprint, versions, who, when)."


def add_arguments(parser) -> None:
    parser.add_argument("ref", metavar="NAME[@V]", help="Model name, optionally @version (default: latest).")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


@dataclass
class VersionView:
    version: object  # registry.ModelVersion

    def _facts(self) -> list[dict]:
        v = self.version
        facts = [
            ("model", v.ref),
            ("algorithm", v.algorithm),
            ("task", v.task),
            ("metric", v.metric),
            ("cv score", v.cv_score),
            ("holdout score", v.holdout_score),
            ("params", v.params),
            ("data fingerprint", v.data_fingerprint),
            ("created", f"{v.created_at} by {v.author} on {v.host}"),
            ("duration s", round(v.duration_s or 0, 2)),
            ("artifact", f"{v.artifact} (sha256 {v.sha256[:12]}…)"),
            ("libraries", ", ".join(f"{k} {val}" for k, val in (v.library_versions or {}).items())),
        ]
        for metric, value in (v.holdout_scores or {}).items():
            facts.append((f"holdout {metric}", value))
        return [{"field": k, "value": val} for k, val in facts]

    def to_text(self) -> str:
        from ..display import text_table

        return text_table(self._facts()) + "\n\nSpec:\n" + (self.version.spec_yaml or "")

    def _repr_html_(self) -> str:
        import html

        from ..display import html_table

        return (
            html_table(self._facts())
            + "<details><summary>Spec</summary><pre>"
            + html.escape(self.version.spec_yaml or "")
            + "</pre></details>"
        )

    def __repr__(self) -> str:
        return self.to_text()


def run(args, ctx):
    from ..registry import open_registry

    return VersionView(open_registry(args.home).get(args.ref))
