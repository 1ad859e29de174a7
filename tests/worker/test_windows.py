"""The in-memory rule windows (evaluators/alerts/windows.py) and the verdict
rules shared by the SQL and incremental checks (`judge`): values equal the
exact computation over the same samples, old buckets slide out, the baseline
is the stretch just before the window, and too few samples give no verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from evaluators.alerts.engine import judge
from evaluators.alerts.windows import RuleWindow
from storage.metadata.alert_repo import AlertRule

NS = 10**9
NOW = 1_800_000_000 * NS


def rule(metric: str = "error_rate", threshold: float = 0.5, **params) -> AlertRule:
    return AlertRule(1, "p", "r", metric, params, ">", threshold, 60, None, 0, True, [], True, datetime.now(UTC))


def feed(w: RuleWindow, groups: list[str], ages_s: list[float], values: list[float]) -> None:
    times = np.asarray([NOW - int(a * NS) for a in ages_s], dtype=np.int64)
    w.add(np.asarray(groups, dtype=object), times, np.asarray(values, dtype=np.float64), NOW)


def test_sums_and_ratios_per_group_inside_the_window_only():
    w = RuleWindow("error_rate", 60)
    feed(w, ["a", "a", "a", "b", "a"], [1, 10, 59, 5, 200], [1, 0, 1, 0, 1])  # the last one is 200 s old
    current, baseline = w.values(NOW)
    assert current == {"a": (2 / 3, 3), "b": (0.0, 1)} and baseline == {}
    cost = RuleWindow("cost", 60)
    feed(cost, ["x", "x"], [2, 3], [0.25, 0.5])
    assert cost.values(NOW)[0] == {"x": (0.75, 2)}


def test_nan_is_not_a_sample():
    w = RuleWindow("cost_per_request", 60)
    feed(w, ["m", "m", "m"], [1, 2, 3], [0.002, float("nan"), 0.004])  # an unpriced call
    assert w.values(NOW)[0] == {"m": (pytest.approx(0.003), 2)}


def test_percentile_matches_numpy_within_the_histogram_resolution():
    rng = np.random.default_rng(3)
    values = rng.lognormal(np.log(800), 0.4, 5000)
    ages = rng.uniform(0, 59, 5000)
    w = RuleWindow("latency_p95", 60)
    feed(w, ["m"] * 5000, list(ages), list(values))
    got, n = w.values(NOW)[0]["m"]
    assert n == 5000
    assert got == pytest.approx(np.quantile(values, 0.95), rel=0.03)


def test_baseline_is_the_stretch_before_the_window_and_old_buckets_expire():
    w = RuleWindow("latency_p50", 60, baseline_seconds=300)
    feed(w, ["m"] * 4, [10, 20, 100, 200], [2000, 2000, 1000, 1000])
    current, baseline = w.values(NOW)
    assert current["m"][1] == 2 and baseline["m"][1] == 2
    assert current["m"][0] == pytest.approx(2000, rel=0.02) and baseline["m"][0] == pytest.approx(1000, rel=0.02)
    later = NOW + 400 * NS  # everything fed is now older than window + baseline
    assert w.values(later) == ({}, {}) and w.groups == {}


def test_judge_needs_min_samples_and_a_baseline():
    assert judge(rule(min_samples=5), (1.0, 4), None) is None
    r = judge(rule(min_samples=5), (1.0, 5), None)
    assert r is not None and r.value == 1.0 and r.samples == 5
    with_base = rule("latency_p95", 1.5, min_samples=2, baseline_seconds=300, baseline_min_samples=10)
    assert judge(with_base, (900.0, 3), None) is None  # no baseline yet
    assert judge(with_base, (900.0, 3), (450.0, 9)) is None  # baseline too thin
    r = judge(with_base, (900.0, 3), (450.0, 10))
    assert r is not None and r.value == 2.0 and r.observed == 900.0 and r.baseline == 450.0


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="no incremental form"):
        RuleWindow("drift_p_value", 60)
