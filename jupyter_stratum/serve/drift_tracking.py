"""Drift of served rows from the model's reference statistics, per feature, in the runtime.

Each numeric feature keeps its last ``window`` served values; every ``check_every`` rows the
two-sample Kolmogorov-Smirnov statistic compares them with the reference sample of the training
data (the same number as ``scipy.stats.ks_2samp``). Each categorical feature compares the
category counts of its window with the reference frequencies (the statistic of
``scipy.stats.chisquare``).

Thresholds come from an expected run length, not from a fixed p-value. A fixed p-value (or a
fixed PSI cut-off) fires on every ``1/p``-th check on identical data, and a runtime checks often:
with ``check_every=20`` and 10 features, p = 0.05 means ~25 false alarms per 1000 rows. Instead
each test's level is ``alpha = check_every / (ert_rows * n_features)``: by the union bound the
expected number of checks over threshold in ``ert_rows`` in-distribution rows is at most one, so
the expected run length between false alarms is at least ``ert_rows`` (the checks of overlapping
windows are strongly correlated, so the real run length is longer; benchmarks/supervise measures
it). The thresholds use the asymptotic null distributions (Kolmogorov with Stephens' small-sample
correction; the chi-squared tail in closed form), so the runtime needs no SciPy.

The runtime is copied into bundles as a standalone package: this module imports only the
standard library and NumPy.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: the longest pause ``cpu_share`` may put between two checks
MAX_CHECK_INTERVAL_S = 1.0
NUMERIC = "numeric"
CATEGORICAL = "categorical"
OTHER = "__other__"
#: added to every reference category count so that a category the reference never saw has a
#: small, non-zero expected count
SMOOTHING = 0.5
#: distinct served values whose category code a categorical test remembers
SEEN_MAX = 10_000


# ------------------------------------------------------------------ statistics
def ks_statistic(reference_sorted: np.ndarray, window: np.ndarray, reference_cdf: np.ndarray | None = None) -> float:
    """The two-sample KS statistic ``sup |F_ref - F_win|`` (equals ``scipy.stats.ks_2samp(...).statistic``).
    ``reference_sorted`` must be sorted; ``reference_cdf`` (its own empirical CDF at its points) may be
    passed precomputed."""
    m, n = len(reference_sorted), len(window)
    if m == 0 or n == 0:
        return 0.0
    win = np.sort(window)
    if reference_cdf is None:
        reference_cdf = np.searchsorted(reference_sorted, reference_sorted, side="right") / m
    at_ref = np.abs(reference_cdf - np.searchsorted(win, reference_sorted, side="right") / n)
    at_win = np.abs(
        np.searchsorted(reference_sorted, win, side="right") / m - np.searchsorted(win, win, side="right") / n
    )
    return float(max(at_ref.max(), at_win.max()))


def chi2_statistic(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson's ``sum((o - e)^2 / e)`` (equals ``scipy.stats.chisquare(observed, expected).statistic``)."""
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    return float(np.sum((observed - expected) ** 2 / expected))


def level_for_ert(ert_rows: float, check_every: int, n_tests: int) -> float:
    """Each test's false-alarm probability per check so that, by the union bound, ``ert_rows`` rows
    of in-distribution traffic give at most one check over threshold on average."""
    return min(0.5, check_every / (float(ert_rows) * max(1, n_tests)))


@functools.lru_cache(maxsize=4096)  # a check asks it once per feature, nearly always with the same figures
def ks_threshold(n_reference: int, n_window: int, alpha: float) -> float:
    """The KS statistic exceeded with probability ``alpha`` under the null (asymptotic Kolmogorov
    tail ``2 exp(-2 x^2)`` with Stephens' correction ``sqrt(ne) + 0.12 + 0.11 / sqrt(ne)``)."""
    ne = n_reference * n_window / (n_reference + n_window)
    x = math.sqrt(math.log(2.0 / alpha) / 2.0)
    return x / (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne))


def chi2_sf(x: float, dof: int) -> float:
    """P(chi-squared(``dof``) > x), in closed form for whole ``dof`` (the regularized upper gamma)."""
    if x <= 0:
        return 1.0
    half = x / 2.0
    if dof % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, dof // 2):
            term *= half / i
            total += term
        return math.exp(-half) * total
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(half) / math.gamma(1.5)  # (x/2)^(1/2) / Gamma(3/2)
    for i in range(1, (dof + 1) // 2):
        total += math.exp(-half) * term
        term *= half / (i + 0.5)
    return total


_CHI2_CACHE: dict[tuple[int, float], float] = {}


def chi2_threshold(dof: int, alpha: float) -> float:
    """The chi-squared(``dof``) quantile exceeded with probability ``alpha`` (bisection on :func:`chi2_sf`)."""
    dof = max(1, int(dof))
    key = (dof, alpha)
    if key not in _CHI2_CACHE:
        lo, hi = 0.0, dof + 10.0
        while chi2_sf(hi, dof) > alpha:
            hi *= 2
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if chi2_sf(mid, dof) > alpha else (lo, mid)
            if hi - lo < 1e-10 * hi:
                break
        _CHI2_CACHE[key] = hi
    return _CHI2_CACHE[key]


# ------------------------------------------------------------------ config and report
@dataclass
class DriftConfig:
    """``window``: rows per feature compared with the reference; ``check_every``: rows between two
    checks; ``ert_rows``: the expected number of in-distribution rows between two false alarms;
    ``min_interval_s``: at least this long between two checks, so that under heavy traffic the
    checks cost a bounded share of the CPU (they then cover more rows each, and the rows in
    between that left the window are never looked at; fewer checks only lower the false alarms)."""

    window: int = 200
    check_every: int = 50
    ert_rows: float = 1_000_000
    min_interval_s: float = 0.02
    #: and at least ``check's duration / cpu_share`` between checks: checks take at most this share of
    #: the runtime's thread whatever the traffic and the number of features
    cpu_share: float = 0.02

    def __post_init__(self) -> None:
        if self.window < 10:
            raise ValueError(f"drift window must be at least 10 rows, got {self.window}")
        if not 1 <= self.check_every <= self.window:
            raise ValueError(f"check_every must be between 1 and the window ({self.window}), got {self.check_every}")
        if self.ert_rows < self.check_every:
            raise ValueError(f"ert_rows must be at least check_every, got {self.ert_rows}")


@dataclass
class FeatureDrift:
    """One feature at the last check: ``score = statistic / threshold`` (>= 1: drifted)."""

    feature: str
    test: str  # ks | chi2
    statistic: float
    threshold: float
    score: float
    drifted: bool
    n: int


@dataclass
class DriftReport:
    """Where drift stands (``GET /v2/models/{name}/drift``)."""

    model: str
    version: str
    window: int
    check_every: int
    ert_rows: float
    alpha: float
    rows_seen: int = 0
    checks: int = 0
    alarms: int = 0  # checks that turned ``detected`` on
    detected: bool = False
    checked_at: float | None = None
    features: list[FeatureDrift] = field(default_factory=list)
    prediction: FeatureDrift | None = None

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drifted_features"] = self.drifted_features
        out["window_rows"] = min(self.rows_seen, self.window)
        return out


# ------------------------------------------------------------------ tracking
class _Numeric:
    test = "ks"

    def __init__(self, name: str, sample: list[float]):
        self.name = name
        self.reference = np.sort(np.asarray(sample, dtype=float))


def _ks_drift(test: _Numeric, stat: float, n: int, alpha: float) -> FeatureDrift:
    if n == 0:
        return FeatureDrift(test.name, test.test, 0.0, math.inf, 0.0, False, 0)
    thr = ks_threshold(len(test.reference), n, alpha)
    return FeatureDrift(test.name, test.test, stat, thr, stat / thr, stat > thr, n)


class _KSBlock:
    """The KS statistics of all numeric features in a few NumPy calls, whatever their number.

    A served value ``x`` enters the window as its ranks in its feature's sorted reference,
    ``a = #ref < x`` and ``b = #ref <= x``. At a check, the histograms of ``a`` and ``b`` give the
    window's empirical CDF at every reference value ``v`` (``#win <= v`` = number of ``a`` below
    ``#ref <= v``) and at the largest window value between two reference values (number of ``b``
    up to that gap). Between those points ``F_ref`` is constant and ``F_win`` moves monotonically,
    so ``sup |F_ref - F_win|`` is reached at one of them: the statistic is exactly the one
    ``scipy.stats.ks_2samp`` computes over every point of both samples."""

    def __init__(self, tests: list[_Numeric], window: int):
        self.tests = tests
        d = len(tests)
        sizes = np.array([len(t.reference) for t in tests], dtype=np.int64)
        self.sizes = sizes
        self.offsets = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]]).astype(np.int64)
        self.total = int((sizes + 1).sum())
        self.a = np.full((window, d), -1, dtype=np.int64)
        self.b = np.full((window, d), -1, dtype=np.int64)
        idx_a, ref_a, feat_a, idx_b, ref_b, feat_b = [], [], [], [], [], []
        for f, t in enumerate(tests):
            m = len(t.reference)
            counts = np.searchsorted(t.reference, np.unique(t.reference), side="right")  # #ref <= v, v distinct
            idx_a.append(self.offsets[f] + counts - 1)
            ref_a.append(counts / m)
            feat_a.append(np.full(len(counts), f))
            gaps = np.concatenate([[0], counts])
            idx_b.append(self.offsets[f] + gaps)
            ref_b.append(gaps / m)
            feat_b.append(np.full(len(gaps), f))
        self.idx_a, self.ref_a, self.feat_a = np.concatenate(idx_a), np.concatenate(ref_a), np.concatenate(feat_a)
        self.idx_b, self.ref_b, self.feat_b = np.concatenate(idx_b), np.concatenate(ref_b), np.concatenate(feat_b)
        self.starts_a = np.concatenate([[0], np.cumsum([len(x) for x in idx_a])[:-1]])
        self.starts_b = np.concatenate([[0], np.cumsum([len(x) for x in idx_b])[:-1]])

    def put(self, idx: np.ndarray, block: np.ndarray) -> None:
        """Rows ``block`` (k x features, NaN for missing) into window slots ``idx``."""
        columns = block.T
        a = np.array([np.searchsorted(t.reference, col, side="left") for t, col in zip(self.tests, columns)]).T
        b = np.array([np.searchsorted(t.reference, col, side="right") for t, col in zip(self.tests, columns)]).T
        a += self.offsets
        b += self.offsets
        missing = np.isnan(block)
        if missing.any():
            a[missing] = -1
            b[missing] = -1
        self.a[idx] = a
        self.b[idx] = b

    def statistics(self, filled: int) -> tuple[np.ndarray, np.ndarray]:
        """Per feature: the KS statistic and the number of window values it covers."""
        a, b = self.a[:filled], self.b[:filled]
        present = a >= 0
        n = present.sum(axis=0)
        if not present.all():
            a, b = a[present], b[present]
        ca = np.cumsum(np.bincount(a.ravel(), minlength=self.total))
        cb = np.cumsum(np.bincount(b.ravel(), minlength=self.total))
        before_a = np.concatenate([[0], ca])[self.offsets]  # counts of the features before each segment
        before_b = np.concatenate([[0], cb])[self.offsets]
        safe_n = np.maximum(n, 1)
        diff_a = np.abs(self.ref_a - (ca[self.idx_a] - before_a[self.feat_a]) / safe_n[self.feat_a])
        diff_b = np.abs(self.ref_b - (cb[self.idx_b] - before_b[self.feat_b]) / safe_n[self.feat_b])
        stat = np.maximum(np.maximum.reduceat(diff_a, self.starts_a), np.maximum.reduceat(diff_b, self.starts_b))
        return np.where(n > 0, stat, 0.0), n


class _Categorical:
    test = "chi2"

    def __init__(self, name: str, frequencies: dict[str, int]):
        self.name = name
        cats = [c for c in frequencies if c != OTHER]
        self.ref_frequencies = {c: int(frequencies[c]) for c in cats}
        self.codes = {c: i for i, c in enumerate(cats)}
        self.other = len(cats)  # everything the reference did not keep or never saw
        counts = np.array([frequencies[c] for c in cats] + [frequencies.get(OTHER, 0)], dtype=float) + SMOOTHING
        self.proportions = counts / counts.sum()
        self.seen: dict[tuple[type, Any], int] = {}  # served value -> code, so a check spells each value once

    def code(self, value: Any) -> int:
        if value is None:
            return -1
        return self.codes.get(_category(value), self.other)

    def codes_of(self, values: list) -> list[int]:
        """:meth:`code` of each value (by type too: ``True`` and ``1`` are different categories)."""
        seen, out = self.seen, []
        for value in values:
            key = (type(value), value)
            try:
                c = seen[key]
            except KeyError:
                c = self.code(value)
                if len(seen) < SEEN_MAX:
                    seen[key] = c
            except TypeError:  # unhashable (a list in a cell): spelled every time
                c = self.code(value)
            out.append(c)
        return out

    def check(self, codes: np.ndarray, alpha: float) -> FeatureDrift:
        codes = codes[codes >= 0]
        n = len(codes)
        if n == 0:
            return FeatureDrift(self.name, self.test, 0.0, math.inf, 0.0, False, n)
        observed = np.bincount(codes, minlength=len(self.proportions))
        stat = chi2_statistic(observed, self.proportions * n)
        thr = chi2_threshold(len(self.proportions) - 1, alpha)
        return FeatureDrift(self.name, self.test, stat, thr, stat / thr, stat > thr, n)


def _category(value: Any) -> str:
    """How the reference spells a category (``str`` of the training value; ``True``, ``3``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _reference_test(ref: dict):
    if ref.get("kind") == NUMERIC and ref.get("sample"):
        return _Numeric(str(ref["name"]), ref["sample"])
    if ref.get("kind") == CATEGORICAL and ref.get("frequencies"):
        return _Categorical(str(ref["name"]), ref["frequencies"])
    return None


def _to_float(value: Any) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


class DriftTracker:
    """Sliding windows of served rows, checked against the reference every ``check_every`` rows.

    ``reference`` is the manifest's ``"reference"`` (the JSON of the registry's ReferenceStats);
    ``columns`` the order of the values in each served row. Columns without a reference are not
    tracked. ``detected`` turns on when a feature's score reaches 1 and off again only when every
    score has fallen below ``release`` (hysteresis: one excursion is one alarm, not a flicker of
    several). Not thread-safe: the runtime calls it on its event-loop thread."""

    def __init__(
        self,
        reference: dict,
        columns: list[str],
        config: DriftConfig | None = None,
        *,
        model: str = "",
        version: str = "",
        release: float = 0.8,
    ):
        self.config = config or DriftConfig()
        self.release = release
        w = self.config.window
        refs = {str(f.get("name")): f for f in reference.get("features") or []}
        self.numeric: list[tuple[int, _Numeric]] = []
        self.categorical: list[tuple[int, _Categorical]] = []
        for j, name in enumerate(columns):
            test = _reference_test(refs[name]) if name in refs else None
            if isinstance(test, _Numeric):
                self.numeric.append((j, test))
            elif isinstance(test, _Categorical):
                self.categorical.append((j, test))
        self.num_index = [j for j, _ in self.numeric]
        self.ks = _KSBlock([t for _, t in self.numeric], w) if self.numeric else None
        self.cat_buffer = np.full((w, len(self.categorical)), -1, dtype=np.int64)
        self.prediction = _reference_test(reference["prediction"]) if reference.get("prediction") else None
        self.pred_buffer = np.full(w, -1, dtype=np.int64)  # a classifier's labels (codes)
        self.pred_ks = _KSBlock([self.prediction], w) if isinstance(self.prediction, _Numeric) else None
        self.alpha = level_for_ert(self.config.ert_rows, self.config.check_every, self.n_features)
        self.pos = 0
        self.filled = 0
        self.since_check = 0
        self.pending: list = []
        self.next_check = -math.inf
        self.pending_predictions: list = []
        self.report = DriftReport(
            model=model,
            version=version,
            window=w,
            check_every=self.config.check_every,
            ert_rows=self.config.ert_rows,
            alpha=self.alpha,
        )

    @property
    def n_features(self) -> int:
        return len(self.numeric) + len(self.categorical)

    @property
    def tracked(self) -> list[str]:
        named = [(j, t.name) for j, t in self.numeric] + [(j, t.name) for j, t in self.categorical]
        return [name for _, name in sorted(named)]

    def observe(self, rows: list, predictions: list | None = None) -> DriftReport | None:
        """Add served rows (lists in column order) and their predictions; returns the new report
        when this call ran a check, else None. Rows are only queued here (the request path pays a
        list append); they enter the windows in one NumPy step at the next check."""
        n = len(rows)
        pending = self.pending
        pending.extend(rows)
        if self.prediction is not None:
            if predictions is None or len(predictions) != n:
                predictions = [None] * n
            self.pending_predictions.extend(predictions)
        w = self.config.window
        if len(pending) > 2 * w:  # between two checks only the newest window counts: hold no more
            del pending[:-w]
            del self.pending_predictions[:-w]
        self.report.rows_seen += n
        self.since_check += n
        config = self.config
        if self.since_check >= config.check_every and self.filled + len(self.pending) >= config.window:
            if config.min_interval_s <= 0 or time.monotonic() >= self.next_check:
                return self.check()
        return None

    def _flush(self) -> None:
        """Move the queued rows into the ring buffers (only the newest ``window`` of them matter)."""
        w = self.config.window
        rows, preds = self.pending[-w:], self.pending_predictions[-w:]
        self.pending, self.pending_predictions = [], []
        k = len(rows)
        if k == 0:
            return
        idx = (self.pos + np.arange(k)) % w
        if self.num_index:
            try:
                block = np.asarray(rows, dtype=float)[:, self.num_index]
            except (TypeError, ValueError):  # strings (categorical columns), nulls, ragged rows
                block = np.array([[_to_float(row[j]) for j in self.num_index] for row in rows], dtype=float)
            self.ks.put(idx, block)  # type: ignore[union-attr]
        for c, (j, test) in enumerate(self.categorical):
            self.cat_buffer[idx, c] = test.codes_of([row[j] for row in rows])
        pred = self.prediction
        if pred is not None and preds:
            if isinstance(pred, _Categorical):
                self.pred_buffer[idx] = pred.codes_of(preds)
            else:
                self.pred_ks.put(idx, np.array([[_to_float(v)] for v in preds], dtype=float))  # type: ignore[union-attr]
        self.pos = int((self.pos + k) % w)
        self.filled = min(w, self.filled + k)

    def check(self) -> DriftReport:
        started = time.monotonic()
        self._flush()
        self.since_check = 0
        filled, alpha = self.filled, self.alpha
        report = self.report
        codes = self.cat_buffer[:filled]
        found = []
        if self.ks is not None:
            stats, counts = self.ks.statistics(filled)
            for (_, test), stat, n in zip(self.numeric, stats.tolist(), counts.tolist()):
                found.append(_ks_drift(test, stat, n, alpha))
        found += [test.check(codes[:, k], alpha) for k, (_, test) in enumerate(self.categorical)]
        order = {name: i for i, name in enumerate(self.tracked)}
        report.features = sorted(found, key=lambda f: order[f.feature])
        if isinstance(self.prediction, _Categorical):
            report.prediction = self.prediction.check(self.pred_buffer[:filled], alpha)
        elif self.pred_ks is not None and self.prediction is not None:
            stats, counts = self.pred_ks.statistics(filled)
            report.prediction = _ks_drift(self.prediction, float(stats[0]), int(counts[0]), alpha)
        top = max((f.score for f in report.features), default=0.0)
        if report.detected:
            report.detected = top >= self.release
        elif top >= 1.0:
            report.detected = True
            report.alarms += 1
        report.checks += 1
        report.checked_at = time.time()
        ended = time.monotonic()
        pause = min(MAX_CHECK_INTERVAL_S, (ended - started) / self.config.cpu_share)
        self.next_check = ended + max(self.config.min_interval_s, pause)
        return report

    def render_metrics(self) -> list[str]:
        """Prometheus lines: per-feature score and statistic, detected, window, checks, alarms."""
        r = self.report
        out = [
            "# HELP stratum_drift_score Drift statistic over its alarm threshold, per feature (>= 1: drifted).",
            "# TYPE stratum_drift_score gauge",
        ]
        scored = r.features + ([r.prediction] if r.prediction is not None else [])
        for f in scored:
            out.append(f'stratum_drift_score{{feature="{_escape(f.feature)}",test="{f.test}"}} {f.score!r}')
        out += [
            "# HELP stratum_drift_statistic The test statistic (KS D or chi-squared), per feature.",
            "# TYPE stratum_drift_statistic gauge",
        ]
        for f in scored:
            out.append(f'stratum_drift_statistic{{feature="{_escape(f.feature)}",test="{f.test}"}} {f.statistic!r}')
        out += [
            "# HELP stratum_drift_detected 1 when at least one feature drifted at the last check.",
            "# TYPE stratum_drift_detected gauge",
            f"stratum_drift_detected {int(r.detected)}",
            "# HELP stratum_drift_window_rows Rows in the window each feature is compared over.",
            "# TYPE stratum_drift_window_rows gauge",
            f"stratum_drift_window_rows {min(self.config.window, self.filled + len(self.pending))}",
            "# HELP stratum_drift_checks_total Drift checks run.",
            "# TYPE stratum_drift_checks_total counter",
            f"stratum_drift_checks_total {r.checks}",
            "# HELP stratum_drift_alarms_total Checks that turned stratum_drift_detected on.",
            "# TYPE stratum_drift_alarms_total counter",
            f"stratum_drift_alarms_total {r.alarms}",
        ]
        return out


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
