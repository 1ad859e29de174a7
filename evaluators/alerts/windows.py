"""Sliding-window aggregates kept in memory, updated as spans and scores land.

An alert rule needs, per group, one number over the last `window_seconds`
(a sum, a ratio or a percentile) and sometimes the same number over a
trailing baseline just before the window.  Re-reading the window from
ClickHouse every few seconds costs a scan per rule; here each rule keeps
time buckets per group instead (a bucket is 1/60 of the window, at least one
second), adds every micro-batch to them column-wise with numpy, and drops
the buckets that slid out.  A value is then a sum over at most a few hundred
small arrays.

Buckets are placed by the span's start time (as the SQL windows are), so a
late span still lands in its own second; one that started before everything
the rule keeps is ignored.  Percentiles come from a log-spaced histogram
(buckets 2 % apart from 0.1 ms to ~30 min): within 2 % of the exact sample
quantile, which is finer than what a latency alert needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

NS = 10**9
SUMS = {"cost", "tokens", "input_tokens", "output_tokens", "requests", "errors"}
RATIOS = {"error_rate", "cost_per_request", "eval_score", "eval_fail_rate", "pii_rate"}
QUANTILES = {
    "latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99,
    "ttft_p50": 0.5, "ttft_p95": 0.95, "ttft_p99": 0.99,
}  # fmt: skip
KINDS = SUMS | RATIOS | set(QUANTILES)

_HIST_LO_MS = 0.1
_HIST_STEP = math.log(1.02)
HIST_BINS = int(math.log(2_000_000 / _HIST_LO_MS) / _HIST_STEP) + 2


def hist_index(ms: np.ndarray) -> np.ndarray:
    """Histogram bin of each value in milliseconds (clamped to the range)."""
    idx = np.floor(np.log(np.maximum(ms, _HIST_LO_MS) / _HIST_LO_MS) / _HIST_STEP).astype(np.int64) + 1
    return np.clip(idx, 0, HIST_BINS - 1)


def hist_quantile(counts: np.ndarray, q: float) -> float:
    """The q-quantile (ms) of a histogram, at the geometric middle of its bin."""
    total = int(counts.sum())
    if total == 0:
        return float("nan")
    rank = max(1, math.ceil(q * total))
    i = int(np.searchsorted(np.cumsum(counts), rank))
    return _HIST_LO_MS * math.exp((i - 0.5) * _HIST_STEP)


@dataclass(slots=True)
class _Bucket:
    n: int = 0
    total: float = 0.0
    hist: np.ndarray | None = None


@dataclass
class RuleWindow:
    """One rule's buckets: per group, per bucket start (ns)."""

    kind: str
    window_seconds: int
    baseline_seconds: int = 0
    groups: dict[str, dict[int, _Bucket]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"no incremental form for metric {self.kind!r}")
        self.step_ns = max(1, self.window_seconds // 60) * NS

    @property
    def span_ns(self) -> int:
        """How far back anything is kept: the window plus its baseline."""
        return (self.window_seconds + self.baseline_seconds) * NS

    def add(self, groups: np.ndarray, times_ns: np.ndarray, values: np.ndarray, now_ns: int) -> None:
        """Add samples: `values` are what the kind aggregates (0/1 for rates,
        USD for cost, ms for latency; NaN = not a sample, e.g. an unpriced call
        for cost_per_request or a call without TTFT)."""
        keep = ~np.isnan(values) & (times_ns >= now_ns - self.span_ns - self.step_ns)
        if not keep.any():
            return
        groups, times_ns, values = groups[keep], times_ns[keep], values[keep]
        starts = times_ns - times_ns % self.step_ns
        quantile = self.kind in QUANTILES
        bins = hist_index(values) if quantile else None
        # one pass per distinct (group, bucket): a micro-batch touches few of them
        g_uniq, g_inv = np.unique(groups.astype(str), return_inverse=True)
        s_uniq, s_inv = np.unique(starts, return_inverse=True)
        uniq, inverse = np.unique(g_inv * len(s_uniq) + s_inv, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(uniq))
        sums = np.bincount(inverse, weights=values, minlength=len(uniq))
        for j, key in enumerate(uniq):
            group, start = str(g_uniq[key // len(s_uniq)]), int(s_uniq[key % len(s_uniq)])
            b = self.groups.setdefault(group, {}).setdefault(start, _Bucket())
            b.n += int(counts[j])
            b.total += float(sums[j])
            if quantile:
                if b.hist is None:
                    b.hist = np.zeros(HIST_BINS, dtype=np.int64)
                np.add.at(b.hist, bins[inverse == j], 1)  # type: ignore[index]

    def expire(self, now_ns: int) -> None:
        oldest = now_ns - self.span_ns - self.step_ns
        for group in list(self.groups):
            buckets = self.groups[group]
            for start in [s for s in buckets if s < oldest]:
                del buckets[start]
            if not buckets:
                del self.groups[group]

    def _value(self, buckets: list[_Bucket]) -> tuple[float, int] | None:
        n = sum(b.n for b in buckets)
        if n == 0:
            return None
        if self.kind in SUMS:
            return sum(b.total for b in buckets), n
        if self.kind in RATIOS:
            return sum(b.total for b in buckets) / n, n
        hist = np.sum([b.hist for b in buckets if b.hist is not None], axis=0)
        return hist_quantile(hist, QUANTILES[self.kind]), n

    def values(self, now_ns: int) -> tuple[dict[str, tuple[float, int]], dict[str, tuple[float, int]]]:
        """({group: (value, samples)} over the window, the same over the baseline)."""
        self.expire(now_ns)
        start = now_ns - self.window_seconds * NS
        base_start = start - self.baseline_seconds * NS
        current: dict[str, tuple[float, int]] = {}
        baseline: dict[str, tuple[float, int]] = {}
        for group, buckets in self.groups.items():
            # a bucket belongs to the window once its start is inside it (buckets are 1/60 of the window)
            cur = self._value([b for s, b in buckets.items() if s >= start - self.step_ns + 1])
            if cur is not None:
                current[group] = cur
            if self.baseline_seconds:
                base = self._value([b for s, b in buckets.items() if base_start <= s < start - self.step_ns + 1])
                if base is not None:
                    baseline[group] = base
        return current, baseline
