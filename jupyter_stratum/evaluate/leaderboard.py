"""The leaderboard: one row per candidate, best first, by the selection metric."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .metrics import METRICS


def rank_key(
    mean: float, fit_seconds: float, metric: str, *, failed: bool = False, complete: bool = True, rung: int = 0
) -> tuple:
    """The leaderboard order, as a sort key: scored candidates first, best mean first (the metric says
    which direction is better), ties to the cheaper candidate; ``sorted``/``min`` keep earlier ones first.
    While a run goes on, ``complete=False`` (a mean over only some of the folds) ranks after every
    candidate whose folds are all done, so one lucky fold never heads the board.

    In a halving search a higher rung ranks first (its score is on more rows or trees; a lower rung's
    is not comparable), as scikit-learn's halving searches pick their best from the last rung.

    The one definition of the order, used by :func:`select_best`, :meth:`Leaderboard.build` and the live
    training view.
    """
    sign = 1 if METRICS[metric].greater_is_better else -1
    unscored = failed or math.isnan(mean)
    return (unscored, not complete, -rung, -sign * (0.0 if math.isnan(mean) else mean), fit_seconds)


def _rung(candidate) -> int:
    return getattr(candidate, "rung", 0)


def select_best(candidates, metric: str):
    """The candidate with the best mean fold score (direction from the metric); None if all failed."""
    scored = [c for c in candidates if not c.failed and c.folds and not math.isnan(c.mean(metric))]
    if not scored:
        return None
    return min(scored, key=lambda c: rank_key(c.mean(metric), c.fit_seconds, metric, rung=_rung(c)))


@dataclass
class Leaderboard:
    metric: str
    metrics: list[str]
    candidates: list  # CandidateResult, sorted best first

    @classmethod
    def build(cls, candidates, metric: str, metrics: list[str]) -> Leaderboard:
        ordered = sorted(
            candidates, key=lambda c: rank_key(c.mean(metric), c.fit_seconds, metric, failed=c.failed, rung=_rung(c))
        )
        return cls(metric, list(metrics), ordered)

    @property
    def halving(self) -> bool:
        """Whether the candidates come from a halving search (the board then shows each one's rung)."""
        return any(getattr(c, "rungs", None) for c in self.candidates)

    def evaluations(self) -> list[dict]:
        """One row per (configuration, rung) a halving search evaluated: rung, resource, mean score."""
        rows = []
        for c in self.candidates:
            for e in getattr(c, "rungs", []):
                rows.append(
                    {
                        "candidate": c.id,
                        "rung": e.rung,
                        "resource": e.resource_text,
                        self.metric: e.mean(self.metric),
                        "error": e.error,
                    }
                )
        return sorted(rows, key=lambda r: (r["rung"], r["candidate"]))

    @property
    def best(self):
        return select_best(self.candidates, self.metric)

    def rows(self) -> list[dict]:
        rows = []
        for rank, c in enumerate(self.candidates, 1):
            row = {"rank": rank, "candidate": c.id}
            for m in self.metrics:
                mean, std = c.mean(m), c.std(m)
                row[m] = "–" if math.isnan(mean) else f"{mean:.4f} ± {std:.4f}"
            row["fit s"] = f"{c.fit_seconds:.2f}"
            row["folds"] = len(c.folds)
            if self.halving:
                row["rung"] = c.rung
                row["resource"] = c.rungs[-1].resource_text if c.rungs else "–"
            if c.failed:
                row["error"] = c.error.splitlines()[0][:120]
            rows.append(row)
        return rows

    def to_frame(self):
        """A DataFrame: mean and std of each metric, fit seconds, folds, per candidate."""
        import pandas as pd

        records = []
        for c in self.candidates:
            rec = {"candidate": c.id, "algorithm": c.class_name}
            for m in self.metrics:
                rec[m] = c.mean(m)
                rec[f"{m}_std"] = c.std(m)
            rec["fit_seconds"] = c.fit_seconds
            rec["folds"] = len(c.folds)
            if self.halving:
                rec["rung"] = c.rung
                rec["resource"] = c.n_resources
                rec["resource_name"] = c.rungs[-1].resource if c.rungs else None
            rec["error"] = c.error
            records.append(rec)
        return pd.DataFrame.from_records(records).set_index("candidate")

    def _columns(self) -> list[str]:
        cols = (
            ["rank", "candidate"] + self.metrics + ["fit s", "folds"] + (["rung", "resource"] if self.halving else [])
        )
        if any(c.failed for c in self.candidates):
            cols.append("error")
        return cols

    def to_text(self) -> str:
        from ..display import text_table

        direction = "higher" if METRICS[self.metric].greater_is_better else "lower"
        return f"Leaderboard (by {self.metric}, {direction} is better; mean ± std over folds)\n" + text_table(
            self.rows(), self._columns()
        )

    def _repr_html_(self) -> str:
        from ..display import html_table

        direction = "higher" if METRICS[self.metric].greater_is_better else "lower"
        best = self.best
        index = self.candidates.index(best) if best is not None else None
        return (
            f"<p><b>Leaderboard</b> by <code>{self.metric}</code> ({direction} is better; "
            f"mean ± std over folds)</p>"
            + html_table(self.rows(), self._columns(), highlight=index, css_class="stratum-leaderboard")
        )

    def __repr__(self) -> str:
        return self.to_text()
