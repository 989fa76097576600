"""Drift statistics equal SciPy's on the same windows; thresholds match SciPy's null distributions;
reference statistics are what the training data holds and travel through the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jupyter_stratum.registry import open_registry
from jupyter_stratum.supervise.drift import (
    DriftConfig,
    DriftTracker,
    chi2_statistic,
    chi2_threshold,
    detector_for,
    ks_statistic,
    ks_threshold,
    level_for_ert,
)
from jupyter_stratum.supervise.reference import reference_statistics


@pytest.mark.parametrize("seed", range(5))
def test_ks_statistic_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    for m, n, discrete, shift in [
        (1000, 200, False, 0.0),
        (1000, 200, False, 0.5),
        (300, 57, True, 0.0),
        (50, 500, True, 1),
    ]:
        ref = rng.normal(size=m)
        win = rng.normal(loc=shift, size=n)
        if discrete:  # ties inside and across samples
            ref, win = np.round(ref * 2), np.round(win * 2)
        expected = stats.ks_2samp(ref, win).statistic
        assert abs(ks_statistic(np.sort(ref), win) - expected) <= 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_chi2_statistic_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(6))
    observed = rng.multinomial(200, rng.dirichlet(np.ones(6)))
    expected = p * 200
    assert abs(chi2_statistic(observed, expected) - stats.chisquare(observed, expected).statistic) <= 1e-9


def test_thresholds_match_scipy_null_distributions():
    for alpha in (1e-3, 2e-5, 1e-6):
        for m, n in ((1000, 200), (1000, 500), (400, 100)):
            d = ks_threshold(m, n, alpha)
            # the asymptotic two-sample p-value at the threshold is alpha (Stephens' correction aside)
            ne = m * n / (m + n)
            p_asym = stats.kstwobign.sf(d * (np.sqrt(ne) + 0.12 + 0.11 / np.sqrt(ne)))
            assert p_asym == pytest.approx(alpha, rel=1e-3)
        for dof in (1, 2, 3, 5, 20, 50):
            assert chi2_threshold(dof, alpha) == pytest.approx(stats.chi2.isf(alpha, dof), rel=1e-8)
    assert level_for_ert(1_000_000, 20, 10) == pytest.approx(2e-6)


def _frame(rng, n, shift=0.0, shifted=()):
    data = {f"x{j}": rng.normal(loc=shift if j in shifted else 0.0, size=n) for j in range(4)}
    data["plan"] = rng.choice(["basic", "plus", "pro"], size=n, p=[0.6, 0.3, 0.1])
    return pd.DataFrame(data)


def test_reference_statistics_of_training_data():
    rng = np.random.default_rng(0)
    X = _frame(rng, 3000)
    X.loc[:9, "x1"] = np.nan
    ref = reference_statistics(X, rng.choice([0, 1], size=3000), task="classification", sample_size=1000)
    assert ref.n_rows == 3000 and [f.name for f in ref.features] == list(X.columns)
    x1 = ref.feature("x1")
    assert x1.kind == "numeric" and x1.missing == 10 and x1.count == 2990
    assert len(x1.sample) == 1000 and x1.sample == sorted(x1.sample) and set(x1.sample) <= set(X["x1"].dropna())
    assert ref.feature("plan").frequencies == X["plan"].value_counts().to_dict()
    assert ref.prediction.kind == "categorical" and set(ref.prediction.frequencies) == {"0", "1"}
    small = reference_statistics(X.head(20))
    assert small.feature("x0").sample == sorted(X["x0"].head(20))


def test_tracker_reports_scipy_statistics_over_its_window(fitted_stream):
    ref_frame, tracker, served = fitted_stream
    window = served.tail(tracker.config.window)
    report = tracker.report
    for f in report.features:
        if f.test == "ks":
            expected = stats.ks_2samp(tracker_reference(tracker, f.feature), window[f.feature]).statistic
        else:
            freqs = reference_counts(tracker, f.feature)
            cats = list(freqs)
            obs = np.array([(window[f.feature] == c).sum() for c in cats] + [(~window[f.feature].isin(cats)).sum()])
            counts = np.array([freqs[c] for c in cats] + [0], dtype=float) + 0.5
            expected = stats.chisquare(obs, counts / counts.sum() * len(window)).statistic
        assert abs(f.statistic - expected) <= 1e-9, f.feature


def tracker_reference(tracker, name):
    return next(t.reference for _, t in tracker.numeric if t.name == name)


def reference_counts(tracker, name):
    return next(t for _, t in tracker.categorical if t.name == name).ref_frequencies


@pytest.fixture
def fitted_stream():
    rng = np.random.default_rng(1)
    train = _frame(rng, 2000)
    ref = reference_statistics(train).to_dict()
    tracker = DriftTracker(ref, list(train.columns), DriftConfig(window=100, check_every=10, min_interval_s=0))
    served = _frame(rng, 237, shift=0.3, shifted=(0, 2))
    for start in range(0, len(served), 7):  # requests of 7 rows
        tracker.observe(served.iloc[start : start + 7].values.tolist())
    tracker.check()
    return train, tracker, served


def test_drift_alarms_on_shift_not_on_same_distribution():
    rng = np.random.default_rng(3)
    train = _frame(rng, 5000)
    tracker = DriftTracker(reference_statistics(train).to_dict(), list(train.columns), DriftConfig(min_interval_s=0))
    same = _frame(rng, 4000)
    for row in same.values.tolist():
        tracker.observe([row])
    assert tracker.report.checks > 70 and tracker.report.alarms == 0
    shifted = _frame(rng, 500, shift=1.0, shifted=(1,))
    first = next(i for i, row in enumerate(shifted.values.tolist()) if (r := tracker.observe([row])) and r.detected)
    assert first < 500 and tracker.report.drifted_features == ["x1"] and tracker.report.alarms == 1


def test_reference_is_stored_with_the_version(stratum_home, tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = _frame(rng, 500).drop(columns="plan")
    y = (X["x0"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    ref = reference_statistics(X, model.predict(X), task="classification")
    reg = open_registry()
    schema = {"columns": [{"name": c, "dtype": "float64"} for c in X.columns]}
    mv = reg.register("churn", model, lineage={"reference": ref, "input_schema": schema})
    again = reg.get("churn@1")
    assert again.reference == ref and mv.reference == ref
    tracker = detector_for(again, DriftConfig(window=50, check_every=10))
    assert tracker.tracked == list(X.columns)


def test_category_codes_remembered_per_type_as_the_reference_spells_them():
    from jupyter_stratum.serve.drift_tracking import _Categorical

    test = _Categorical("plan", {"1": 5, "True": 3, "a": 2})
    values = [1, 1.0, True, "a", "b", None, [1], 1, True]
    assert test.codes_of(values) == [test.code(v) for v in values] == [0, 0, 1, 2, 3, -1, 3, 0, 1]
    assert test.codes_of(values) == [0, 0, 1, 2, 3, -1, 3, 0, 1]  # the second time from what it remembered
    assert (int, 1) in test.seen and (bool, True) in test.seen
