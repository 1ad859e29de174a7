"""GenAI aggregates for a team's own Prometheus: cost, tokens, requests, errors,
latency and time to first token per project, service, provider and model.

Fed by every batch the spans writer has stored (so a span is counted once it
is durable, exactly like the API), aggregated column-wise with Arrow and numpy:
the writer's thread is the hottest in the server, and a Python call per span
would cost more than the insert.  Counters live in this process, as Prometheus
expects (one series per instance; `sum` across replicas).  An export that a
client retries after a lost acknowledgement is stored once but counted twice
here; the API's figures are exact.

Label values are capped per project and label (`label_cap`): past the cap new
values fold into "other", so a user id sent as a service name cannot blow up
Prometheus.  Projects are capped the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

OTHER = "other"
LABELS = ("project", "service", "provider", "model")
TOKEN_TYPES = (
    ("input", "uncached_input_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("output", "output_text_tokens"),
    ("reasoning", "reasoning_tokens"),
)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 6.0, 12.0)
_STATUS_ERROR = 2


@dataclass(slots=True)
class _Series:
    requests: int = 0
    errors: int = 0
    unpriced: int = 0
    cost_usd: float = 0.0
    tokens: dict[str, int] = field(default_factory=lambda: {t: 0 for t, _ in TOKEN_TYPES})
    latency: np.ndarray = field(default_factory=lambda: np.zeros(len(LATENCY_BUCKETS) + 1, dtype=np.int64))
    latency_sum: float = 0.0
    ttft: np.ndarray = field(default_factory=lambda: np.zeros(len(TTFT_BUCKETS) + 1, dtype=np.int64))
    ttft_sum: float = 0.0
    ttft_count: int = 0


class LabelCap:
    """First `cap` distinct values per (project, label) keep their name."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("the label cap must be at least 1")
        self.cap = cap
        self._seen: dict[tuple[str, str], set[str]] = {}

    def fold(self, scope: str, label: str, value: str) -> str:
        seen = self._seen.setdefault((scope, label), set())
        if value in seen:
            return value
        if len(seen) < self.cap:
            seen.add(value)
            return value
        return OTHER


class GenAIMetrics(Collector):
    def __init__(self, registry: CollectorRegistry, label_cap: int = 50) -> None:
        self._cap = LabelCap(label_cap)
        self._series: dict[tuple[str, str, str, str], _Series] = {}
        self._lock = threading.Lock()  # batches arrive on the writer thread, scrapes on the event loop
        registry.register(self)

    # ---- feeding ---------------------------------------------------------------------------
    def observe_batch(self, batch: pa.Table) -> None:
        """Add the LLM calls (counts_usage = 1) of one stored batch."""
        if batch.num_rows == 0 or "counts_usage" not in batch.column_names:
            return
        calls = batch.filter(pc.equal(batch["counts_usage"], 1))
        if calls.num_rows == 0:
            return
        keys = list(zip(*(calls[c].to_pylist() for c in ("project_id", "service_name", "provider", "model"))))
        uniq: dict[tuple[str, str, str, str], int] = {}
        group = np.fromiter((uniq.setdefault(k, len(uniq)) for k in keys), dtype=np.int64, count=len(keys))
        n_groups = len(uniq)

        def sums(values: np.ndarray) -> np.ndarray:
            return np.bincount(group, weights=values, minlength=n_groups)

        def counts(mask: np.ndarray) -> np.ndarray:
            return np.bincount(group[mask], minlength=n_groups)

        requests = np.bincount(group, minlength=n_groups)
        errors = counts(calls["status_code"].to_numpy(zero_copy_only=False) == _STATUS_ERROR)
        cost = calls["cost_total"]
        priced = pc.is_valid(cost).to_numpy(zero_copy_only=False)
        cost_f = pc.fill_null(pc.cast(cost, pa.float64()), 0.0).to_numpy(zero_copy_only=False)
        cost_sums = sums(cost_f)
        unpriced = counts(~priced)
        tokens = {t: sums(calls[col].to_numpy(zero_copy_only=False).astype(np.float64)) for t, col in TOKEN_TYPES}
        dur = calls["duration_ns"].to_numpy(zero_copy_only=False).astype(np.float64) / 1e9
        lat_bucket = np.searchsorted(np.asarray(LATENCY_BUCKETS), dur, side="left")
        lat_hist = np.zeros((n_groups, len(LATENCY_BUCKETS) + 1), dtype=np.int64)
        np.add.at(lat_hist, (group, lat_bucket), 1)
        lat_sums = sums(dur)
        ttft_col = calls["ttft_ns"]
        has_ttft = pc.is_valid(ttft_col).to_numpy(zero_copy_only=False)
        ttft = pc.fill_null(ttft_col, 0).to_numpy(zero_copy_only=False).astype(np.float64) / 1e9
        ttft_hist = np.zeros((n_groups, len(TTFT_BUCKETS) + 1), dtype=np.int64)
        np.add.at(ttft_hist, (group[has_ttft], np.searchsorted(np.asarray(TTFT_BUCKETS), ttft[has_ttft])), 1)
        ttft_sums = sums(np.where(has_ttft, ttft, 0.0))
        ttft_counts = counts(has_ttft)

        with self._lock:
            for key, i in uniq.items():
                s = self._series_for(key)
                s.requests += int(requests[i])
                s.errors += int(errors[i])
                s.unpriced += int(unpriced[i])
                s.cost_usd += float(cost_sums[i])
                for t, _ in TOKEN_TYPES:
                    s.tokens[t] += int(tokens[t][i])
                s.latency += lat_hist[i]
                s.latency_sum += float(lat_sums[i])
                s.ttft += ttft_hist[i]
                s.ttft_sum += float(ttft_sums[i])
                s.ttft_count += int(ttft_counts[i])

    def _series_for(self, key: tuple[str, str, str, str]) -> _Series:
        project, service, provider, model = key
        project = self._cap.fold("", "project", project)
        folded = (
            project,
            self._cap.fold(project, "service", service),
            self._cap.fold(project, "provider", provider),
            self._cap.fold(project, "model", model),
        )
        s = self._series.get(folded)
        if s is None:
            s = self._series[folded] = _Series()
        return s

    # ---- exposition --------------------------------------------------------------------------
    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        with self._lock:
            snapshot = [(k, _copy(s)) for k, s in self._series.items()]
        labels = list(LABELS)
        req = CounterMetricFamily("llmobs_genai_requests", "LLM calls stored (each call counted once across layers)", labels=labels)
        err = CounterMetricFamily("llmobs_genai_errors", "LLM calls with an error status", labels=labels)
        unp = CounterMetricFamily("llmobs_genai_unpriced_requests", "LLM calls with no known price", labels=labels)
        cost = CounterMetricFamily("llmobs_genai_cost_usd", "Computed cost of LLM calls in USD", labels=labels)
        tok = CounterMetricFamily("llmobs_genai_tokens", "Tokens billed, as a non-overlapping split", labels=[*labels, "type"])
        lat = HistogramMetricFamily("llmobs_genai_request_duration_seconds", "LLM call duration", labels=labels)
        ttft = HistogramMetricFamily("llmobs_genai_time_to_first_token_seconds", "Time to first token of streamed LLM calls", labels=labels)
        for key, s in snapshot:
            lv = list(key)
            req.add_metric(lv, s.requests)
            err.add_metric(lv, s.errors)
            unp.add_metric(lv, s.unpriced)
            cost.add_metric(lv, s.cost_usd)
            for t, _ in TOKEN_TYPES:
                tok.add_metric([*lv, t], s.tokens[t])
            lat.add_metric(lv, _buckets(LATENCY_BUCKETS, s.latency), s.latency_sum)
            ttft.add_metric(lv, _buckets(TTFT_BUCKETS, s.ttft), s.ttft_sum)
        yield from (req, err, unp, cost, tok, lat, ttft)


def _copy(s: _Series) -> _Series:
    return _Series(s.requests, s.errors, s.unpriced, s.cost_usd, dict(s.tokens), s.latency.copy(), s.latency_sum,
                   s.ttft.copy(), s.ttft_sum, s.ttft_count)  # fmt: skip


def _buckets(bounds: tuple[float, ...], counts: np.ndarray) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs ending with +Inf, as the exposition format wants."""
    cum = np.cumsum(counts)
    out = [(repr(float(b)), float(c)) for b, c in zip(bounds, cum[:-1], strict=True)]
    out.append(("+Inf", float(cum[-1])))
    return out


class EvaluationMetrics(Collector):
    """Evaluator score summaries and PII findings for the same Prometheus.

    `llmobs_eval_score` is a summary (count and sum, no quantiles) per
    project, evaluator and metric: `rate(sum)/rate(count)` is the mean score
    over any range, `count` how many spans were scored.  `llmobs_pii_findings`
    counts findings per project and entity type.  Fed with every batch of
    scores this process writes (scheduled runs, backfills and the streaming
    scorer; scores sent by apps as log events are in the API only).  Labels
    are capped like the GenAI series: past `label_cap` distinct evaluators,
    metrics or entity types per project, new values fold into "other"."""

    def __init__(self, registry: CollectorRegistry, label_cap: int = 50) -> None:
        self._cap = LabelCap(label_cap)
        self._scores: dict[tuple[str, str, str], list[float]] = {}  # -> [count, sum]
        self._findings: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # scores arrive on worker threads, scrapes on the event loop
        registry.register(self)

    def observe(self, project_id: str, results: Sequence[Any], _rows: object = None) -> None:
        """`results`: evaluators.base.EvalResult (score None = not scored, skipped)."""
        with self._lock:
            project = self._cap.fold("", "project", project_id)
            for r in results:
                if r.score is None:
                    continue
                key = (project, self._cap.fold(project, "evaluator", r.evaluator),
                       self._cap.fold(project, "metric", r.metric))  # fmt: skip
                acc = self._scores.setdefault(key, [0.0, 0.0])
                acc[0] += 1
                acc[1] += float(r.score)
                for finding in (r.details or {}).get("findings") or ():
                    if isinstance(finding, dict) and finding.get("entity_type"):
                        etype = self._cap.fold(project, "entity_type", str(finding["entity_type"]))
                        self._findings[(project, etype)] = self._findings.get((project, etype), 0) + 1

    def collect(self) -> Iterator[SummaryMetricFamily | CounterMetricFamily]:
        with self._lock:
            scores = [(k, list(v)) for k, v in self._scores.items()]
            findings = list(self._findings.items())
        summary = SummaryMetricFamily("llmobs_eval_score", "Scores written by evaluators (count and sum per metric)",
                                      labels=["project", "evaluator", "metric"])  # fmt: skip
        for key, (count, total) in scores:
            summary.add_metric(list(key), count_value=count, sum_value=total)
        pii = CounterMetricFamily("llmobs_pii_findings", "PII findings by entity type (never the text)",
                                  labels=["project", "entity_type"])  # fmt: skip
        for key, n in findings:
            pii.add_metric(list(key), n)
        yield from (summary, pii)
