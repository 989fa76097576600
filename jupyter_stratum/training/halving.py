"""Successive halving: the rungs of a search and which configurations go on to the next one.

No Dask here: the rules are plain objects that the engine (:mod:`.halving_run`) asks what to train
next each time a configuration finishes a rung, so they are tested on their own.

- :func:`make_schedule` computes the rungs as scikit-learn's ``HalvingRandomSearchCV`` does
  (``min_resources`` 'smallest'/'exhaust', ``max_resources``, ``factor``, number of iterations).
- :class:`SyncHalving` is scikit-learn's order: a rung is complete before the best ``ceil(n/factor)``
  go on, ties broken exactly as its ``_top_k``; same candidates and resources give the same choices.
- :class:`AsyncHalving` is ASHA (Li et al., 2020) for a fixed set of configurations: a configuration goes
  on as soon as it is in the best ``floor(m/factor)`` of the ``m`` results its rung has, with no barrier
  between rungs, for up to half of the rung's quota (the synchronous ``ceil(n/factor)``); when the rung
  has all its results the quota is filled with its best not yet promoted. So a rung runs exactly as many
  configurations as the synchronous order (ASHA's unbounded early promotions would pay for every early,
  cheap and mediocre configuration that cheap families put first), and the best of a rung always goes on.
  Results count in the order the configurations entered the rung, so the choices depend on the scores
  only, never on timing: a retried task (a lost worker) delays a promotion but never changes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Schedule:
    """The rungs of a halving search: the resource each rung gives a configuration."""

    resource: str  # n_samples, or a parameter (n_estimators)
    factor: float
    min_resources: int
    max_resources: int
    resources: tuple[int, ...]  # per rung
    n_candidates: int

    @property
    def n_rungs(self) -> int:
        return len(self.resources)

    def expected_evaluations(self) -> list[int]:
        """Configurations per rung in the synchronous order (ASHA may promote a few more)."""
        out, n = [], self.n_candidates
        for _ in self.resources:
            out.append(n)
            n = math.ceil(n / self.factor)
        return out


def smallest_resources(resource: str, n_splits: int, n_classes: int | None) -> int:
    """scikit-learn's ``min_resources='smallest'``: 2 rows per fold (per class), or 1 of a parameter."""
    if resource != "n_samples":
        return 1
    return n_splits * 2 * (n_classes or 1)


def default_candidates(min_resources: int, max_resources: int) -> int:
    """scikit-learn's ``n_candidates='exhaust'``: enough that the last rung uses the most resources."""
    return max(1, max_resources // min_resources)


def make_schedule(
    n_candidates: int, *, resource: str, factor: float, min_resources: int | str, max_resources: int, smallest: int
) -> Schedule:
    """The rungs, as ``BaseSuccessiveHalving._run_search`` computes them (no aggressive elimination)."""
    min_r = smallest if min_resources in ("smallest", "exhaust") else int(min_resources)
    if min_r > max_resources:
        raise ValueError(f"min_resources {min_r} is more than the budget {max_resources}")
    n_required = 1 + math.floor(math.log(n_candidates, factor))
    if min_resources == "exhaust":
        min_r = max(min_r, int(max_resources // factor ** (n_required - 1)))
    n_possible = 1 + math.floor(math.log(max_resources // min_r, factor))
    n_rungs = min(n_possible, n_required)
    resources = tuple(min(int(factor**k * min_r), max_resources) for k in range(n_rungs))
    return Schedule(resource, float(factor), min_r, max_resources, resources, n_candidates)


def rung_positions(folds, fraction: float, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each fold's rows at a rung that gives ``fraction`` of the rows: the same folds at every rung,
    subsampled as scikit-learn's ``_SubsampleMetaSplitter`` does (train and test, without replacement)."""
    from sklearn.utils import resample

    if fraction >= 1:
        return [(np.asarray(tr), np.asarray(te)) for tr, te in folds]
    out = []
    for tr, te in folds:
        tr = resample(tr, replace=False, random_state=seed, n_samples=int(fraction * len(tr)))
        te = resample(te, replace=False, random_state=seed, n_samples=int(fraction * len(te)))
        out.append((np.asarray(tr), np.asarray(te)))
    return out


@dataclass
class _Rung:
    members: list[int] = field(default_factory=list)  # in the order they entered the rung
    scores: dict[int, float] = field(default_factory=dict)
    counted: int = 0  # results counted, a prefix of members (ASHA)
    promoted: list[int] = field(default_factory=list)
    closed: bool = False  # every member known and its final promotions made


class SyncHalving:
    """scikit-learn's successive halving: rung by rung, the best ``ceil(n/factor)`` go on."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.rungs = [_Rung() for _ in schedule.resources]

    def start(self) -> list[tuple[int, int]]:
        self.rungs[0].members = list(range(self.schedule.n_candidates))
        return [(i, 0) for i in self.rungs[0].members]

    def report(self, candidate: int, rung: int, score: float) -> list[tuple[int, int]]:
        """Record a configuration's mean score at a rung; the (configuration, rung) pairs to train next."""
        state = self.rungs[rung]
        state.scores[candidate] = score
        if len(state.scores) < len(state.members) or rung + 1 >= len(self.rungs):
            return []
        scores = np.array([state.scores[m] for m in state.members], dtype=float)
        keep = math.ceil(len(state.members) / self.schedule.factor)
        # scikit-learn's _top_k, tie order and all: NaNs (failed) first, the best k at the end
        order = np.roll(np.argsort(scores), np.count_nonzero(np.isnan(scores)))
        chosen = [state.members[i] for i in order[-keep:]]
        state.promoted = chosen
        state.closed = True
        self.rungs[rung + 1].members = list(chosen)
        return [(c, rung + 1) for c in chosen]


class AsyncHalving:
    """Asynchronous successive halving (ASHA), deterministic in the scores (see the module docstring)."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.rungs = [_Rung() for _ in schedule.resources]
        # configurations each rung sends on: the synchronous order's counts
        self.quota = schedule.expected_evaluations()[1:] + [0]

    def start(self) -> list[tuple[int, int]]:
        self.rungs[0].members = list(range(self.schedule.n_candidates))
        return [(i, 0) for i in self.rungs[0].members]

    def _promote(self, rung: int, candidates: list[int], out: list, limit: int) -> None:
        state = self.rungs[rung]
        for c in candidates:
            if len(state.promoted) >= limit:
                return
            if c not in state.promoted:
                state.promoted.append(c)
                self.rungs[rung + 1].members.append(c)
                out.append((c, rung + 1))

    def _best(self, rung: int, among: list[int], k: int) -> list[int]:
        scores = self.rungs[rung].scores
        position = {c: i for i, c in enumerate(among)}

        def key(c):
            s = scores[c]
            return (math.isnan(s), -s if not math.isnan(s) else 0.0, position[c])

        return sorted(among, key=key)[:k]

    def report(self, candidate: int, rung: int, score: float) -> list[tuple[int, int]]:
        self.rungs[rung].scores[candidate] = score
        out: list[tuple[int, int]] = []
        last = len(self.rungs) - 1
        for r, state in enumerate(self.rungs):
            # count results in the order configurations entered the rung, one at a time
            while state.counted < len(state.members) and state.members[state.counted] in state.scores:
                state.counted += 1
                if r < last:
                    prefix = state.members[: state.counted]
                    early = self._best(r, prefix, math.floor(state.counted / self.schedule.factor))
                    self._promote(r, early, out, self.quota[r] // 2)
            below_closed = r == 0 or self.rungs[r - 1].closed
            if below_closed and not state.closed and state.counted == len(state.members):
                state.closed = True
                if r < last:
                    self._promote(r, self._best(r, state.members, len(state.members)), out, self.quota[r])
        return out

    @property
    def done(self) -> bool:
        return all(r.closed for r in self.rungs)


def make_controller(schedule: Schedule, mode: str):
    return AsyncHalving(schedule) if mode == "async" else SyncHalving(schedule)
