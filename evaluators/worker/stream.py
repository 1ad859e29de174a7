"""Streaming scoring: fresh spans scored and alert windows updated within
seconds of being stored, off the ingest path.

The spans writer calls `offer(batch)` on the event loop after each insert.
`offer` only keeps the scalar columns of the contract below (no message
content, no attribute maps) and appends them to a bounded queue: it never
waits and never reads storage.  When the queue is full the batch is dropped
with a counter (`llmobs_stream_spans_dropped_total{stage="queue"}`).

Two background tasks drain it:

* the alert loop takes everything queued (coalescing the writer's batches
  into one micro-batch), feeds the in-memory rule windows
  (evaluators/alerts/incremental.py) and judges the rules, at least every
  `tick_seconds`;
* the scoring loop takes up to `score_batch_spans` span keys at a time,
  reads their content from ClickHouse by key (`EvaluationQueries.spans_by_key`,
  bounded by start time, so only the hours just written are touched), runs
  every enabled config of a cheap evaluator (`registry.STREAMING`: PII
  patterns + NER, heuristics) through the same `ConfigRunner.score_rows` as
  the scheduled worker, and feeds the scores to the windows.  Newest keys
  go first, so a backlog delays old spans rather than fresh ones; keys that
  waited longer than the stream settle delay, or past the backlog bound, are
  dropped with a counter (`stage="score"`) and left to the scheduled run.

The scheduled worker skips what the stream scored: for streamed evaluators a
scheduled run waits `LLMOBS_EVAL_STREAM_SETTLE_SECONDS` and leaves out spans
that already have a score of the same evaluator version (see
`EvaluationQueries.spans_after(unscored_by=...)`), so each span is scored
once per version, and spans the stream dropped are still scored, later.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from evaluators import registry
from evaluators.alerts.incremental import IncrementalAlerts, ScoredSpan
from evaluators.base import EvalResult, SpanEvaluator
from evaluators.worker.runner import ConfigRunner, OnResults, RunnerOptions, selection
from evaluators.worker.service import ScorerCache
from storage.clickhouse.evaluation_queries import EvaluationQueries
from storage.clickhouse.tables import Tables
from storage.metadata.evaluation_repo import EvaluationRepo, EvaluatorConfig, RunCounts

log = logging.getLogger(__name__)

# The only columns of the writer's batch this module may rely on.
CONTRACT = (
    "project_id", "trace_id", "span_id", "parent_span_id", "start_time", "duration_ns", "service_name", "provider",
    "model", "span_type", "operation", "counts_usage", "status_code", "error_type", "ttft_ns", "cost_total",
    "uncached_input_tokens", "cache_read_tokens", "cache_write_tokens", "output_text_tokens", "reasoning_tokens",
    "content_kept",
)  # fmt: skip
_KEYS = ("project_id", "trace_id", "span_id", "start_time")


@dataclass(frozen=True, slots=True)
class StreamOptions:
    max_queued_spans: int = 200_000
    max_backlog_spans: int = 50_000
    score_batch_spans: int = 100
    stale_seconds: float = 15.0  # keys waiting longer are the scheduled run's (LLMOBS_EVAL_STREAM_SETTLE_SECONDS)
    tick_seconds: float = 1.0
    config_refresh_seconds: float = 2.0


class StreamMetrics:
    """Counters on /metrics: what was offered, dropped (and where), scored,
    and how long a span waited between its insert and its score."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        reg = registry or CollectorRegistry()
        self.offered = Counter("llmobs_stream_spans_offered", "Stored spans handed to the streaming scorer", registry=reg)
        self.dropped = Counter("llmobs_stream_spans_dropped", "Spans the streaming scorer dropped (full queue or "
                               "scoring backlog; the scheduled worker scores them later)", ["stage"], registry=reg)  # fmt: skip
        self.scored = Counter("llmobs_stream_spans_scored", "Spans scored by the streaming scorer", ["evaluator"],
                              registry=reg)  # fmt: skip
        self.queued = Gauge("llmobs_stream_queue_spans", "Spans waiting for the alert loop", registry=reg)
        self.backlog = Gauge("llmobs_stream_score_backlog_spans", "Spans waiting to be scored", registry=reg)
        self.lag = Histogram("llmobs_stream_score_lag_seconds", "From a span's insert to its streamed score",
                             buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120), registry=reg)  # fmt: skip
        self.transitions = Counter("llmobs_stream_alert_transitions", "Alert transitions made by incremental rules",
                                   registry=reg)  # fmt: skip
        for stage in ("queue", "score"):
            self.dropped.labels(stage)


class SpanStream:
    def __init__(
        self, client_factory: Callable[[], Client], tables: Tables, evaluations: EvaluationRepo,
        scorers: ScorerCache, runner_options: RunnerOptions, alerts: IncrementalAlerts, options: StreamOptions,
        metrics: StreamMetrics, on_results: OnResults | None = None,
    ) -> None:  # fmt: skip
        self._factory = client_factory
        self._tables = tables
        self.evaluations = evaluations
        self.scorers = scorers
        self.runner_options = runner_options
        self.alerts = alerts
        self.opt = options
        self.metrics = metrics
        self._on_results = on_results
        self._queue: deque[pa.Table] = deque()
        self._queued = 0
        self._backlog: deque[tuple[float, pa.Table]] = deque()
        self._backlog_rows = 0
        self._wake = asyncio.Event()
        self._score_wake = asyncio.Event()
        self._client: Client | None = None
        self._configs: list[EvaluatorConfig] = []
        self._since: dict[int, int] = {}  # config id -> when (unix us) this stream began to score it
        self._warmed: set[tuple[int, object]] = set()  # (config id, updated_at) whose scorer was built
        self._configs_at = 0.0
        self._client_lock = threading.Lock()
        self._configs_lock = threading.Lock()

    # ---- the writer's side (event loop; must stay cheap)

    def offer(self, batch: pa.Table) -> None:
        n = batch.num_rows
        if n == 0:
            return
        self.metrics.offered.inc(n)
        if self._queued + n > self.opt.max_queued_spans:
            self.metrics.dropped.labels("queue").inc(n)
            return
        self._queue.append(batch.select([c for c in CONTRACT if c in batch.column_names]))
        self._queued += n
        self.metrics.queued.set(self._queued)
        self._wake.set()

    # ---- background loops

    async def serve(self, stop: asyncio.Event) -> None:
        try:
            await asyncio.gather(self._alert_loop(stop), self._score_loop(stop))
        finally:
            if self._client is not None:
                await asyncio.to_thread(self._client.close)

    @staticmethod
    async def _wait(event: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        event.clear()

    async def _alert_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._wait(self._wake, stop, self.opt.tick_seconds)
            tables = list(self._queue)
            self._queue.clear()
            self._queued = 0
            self.metrics.queued.set(0)
            batch = pa.concat_tables(tables, promote_options="default") if tables else None
            try:
                await asyncio.to_thread(self.alert_step, batch)
            except Exception:  # noqa: BLE001 - a metadata DB hiccup: the next tick tries again
                log.exception("incremental alert step failed")
            if batch is not None:
                self._to_backlog(batch)

    def alert_step(self, batch: pa.Table | None, now_ns: int | None = None) -> int:
        """Blocking: feed one micro-batch to the rule windows and judge the rules."""
        now_ns = now_ns or time.time_ns()
        self._has_configs()
        self.alerts.refresh(now_ns)
        if batch is not None:
            self.alerts.observe_spans(batch, now_ns)
        moved = self.alerts.evaluate(now_ns)
        self.metrics.transitions.inc(moved)
        return moved

    def _to_backlog(self, batch: pa.Table) -> None:
        keys = batch.filter(pc.equal(batch["content_kept"], 1)) if "content_kept" in batch.column_names else batch
        if keys.num_rows == 0 or not self._configs:  # configs are re-read on the alert thread, never here
            return
        self._backlog.append((time.monotonic(), keys.select([c for c in _KEYS if c in keys.column_names])))
        self._backlog_rows += keys.num_rows
        while self._backlog_rows > self.opt.max_backlog_spans and len(self._backlog) > 1:
            _, old = self._backlog.popleft()
            self._backlog_rows -= old.num_rows
            self.metrics.dropped.labels("score").inc(old.num_rows)
        self.metrics.backlog.set(self._backlog_rows)
        self._score_wake.set()

    def _take(self) -> tuple[float, pa.Table] | None:
        """The newest keys first: when scoring falls behind, fresh spans (what
        an alert is waiting for) go before old ones, and keys older than the
        stream settle delay are left to the scheduled run, which takes them
        from then on (`stage="score"` drops)."""
        stale = time.monotonic() - self.opt.stale_seconds
        while self._backlog and self._backlog[0][0] < stale:
            _, old = self._backlog.popleft()
            self._backlog_rows -= old.num_rows
            self.metrics.dropped.labels("score").inc(old.num_rows)
        if not self._backlog:
            self.metrics.backlog.set(self._backlog_rows)
            return None
        first_at, parts, rows = self._backlog[-1][0], [], 0
        while self._backlog and rows < self.opt.score_batch_spans:
            at, t = self._backlog.pop()
            room = self.opt.score_batch_spans - rows
            if t.num_rows > room:
                self._backlog.append((at, t.slice(0, t.num_rows - room)))
                t = t.slice(t.num_rows - room)
            parts.append(t)
            rows += t.num_rows
            first_at = at
        self._backlog_rows -= rows
        self.metrics.backlog.set(self._backlog_rows)
        return first_at, pa.concat_tables(parts, promote_options="default")

    def _warm(self) -> None:
        """Build the streamed configs' scorers before taking keys: loading the
        NER model takes a while, and keys that wait meanwhile turn stale and
        go to the scheduled run instead of being scored by both."""
        for config in list(self._configs):
            if (config.id, config.updated_at) in self._warmed:
                continue
            self._warmed.add((config.id, config.updated_at))
            try:
                self.scorers.get(config)
            except Exception:  # noqa: BLE001 - score_step reports it on the spans it cannot score
                log.exception("building scorer %s failed", config.evaluator)

    async def _score_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if any((c.id, c.updated_at) not in self._warmed for c in self._configs):
                await asyncio.to_thread(self._warm)
            taken = self._take()
            if taken is None:
                await self._wait(self._score_wake, stop, self.opt.tick_seconds)
                continue
            offered_at, keys = taken
            try:
                await asyncio.to_thread(self.score_step, keys)
                self.metrics.lag.observe(time.monotonic() - offered_at)
                self._wake.set()  # judge the rules on the fresh scores now, not at the next tick
            except Exception:  # noqa: BLE001 - these spans are left to the scheduled run
                log.exception("streaming scoring of %d spans failed; the scheduled run will score them", keys.num_rows)
                self.metrics.dropped.labels("score").inc(keys.num_rows)
                self._reset_client()

    # ---- scoring

    def _has_configs(self) -> bool:
        age = time.monotonic() - self._configs_at
        # With no config yet, look again soon: a config created a moment ago streams its first spans.
        if age > self.opt.config_refresh_seconds or (not self._configs and age > 0.2):
            self.refresh_configs()
        return bool(self._configs)

    def refresh_configs(self) -> None:
        """Blocking: re-read the streamed configs (the API calls this after a
        config changes).  A config seen for the first time is scored from now
        on; spans stored before that are the scheduled run's (`since`)."""
        with self._configs_lock:
            try:
                configs = self.evaluations.enabled_configs(registry.STREAMING)
                now_us = time.time_ns() // 1000
                self._since = {c.id: self._since.get(c.id, now_us) for c in configs}
                self._configs = configs
            except Exception:  # noqa: BLE001 - keep the last known configs
                log.exception("reading evaluator configs failed")
            self._configs_at = time.monotonic()

    def since(self, config_id: int) -> int | None:
        """When this stream began to score `config_id` (None: it does not):
        spans stored before that are the scheduled run's alone."""
        return self._since.get(config_id)

    def _reset_client(self) -> None:
        with self._client_lock:
            if self._client is not None:
                try:
                    self._client.close()
                except Exception:  # noqa: BLE001
                    pass
            self._client = None

    def score_step(self, keys: pa.Table) -> int:
        """Blocking: score one micro-batch of span keys with every streamed
        config of their projects; returns the results written."""
        with self._client_lock:
            if self._client is None:
                self._client = self._factory()
            client = self._client
        runner = ConfigRunner(EvaluationQueries(client, self._tables), self.evaluations, self.runner_options,
                              self.scorers.get, self.on_scores)  # fmt: skip
        projects = keys["project_id"].to_pylist()
        traces, spans = keys["trace_id"].to_pylist(), keys["span_id"].to_pylist()
        starts = pc.cast(keys["start_time"], pa.int64()).to_pylist()
        by_project: dict[str, list[int]] = {}
        for i, p in enumerate(projects):
            by_project.setdefault(p, []).append(i)
        written = 0
        for project, idx in by_project.items():
            configs = [c for c in self._configs if c.project_id == project]
            if not configs:
                continue
            pairs = [(traces[i], spans[i]) for i in idx]
            lo, hi = min(starts[i] for i in idx), max(starts[i] for i in idx) + 1
            for config in configs:
                scorer = self.scorers.get(config)
                if not isinstance(scorer, SpanEvaluator):
                    continue
                since = self._since.get(config.id)
                rows = [r for r in runner.q.spans_by_key(selection(config), pairs, lo_ns=lo, hi_ns=hi)
                        if since is not None and int(r["ingested_us"]) >= since]  # older: the scheduled run's
                if rows:
                    counts = RunCounts()
                    written += runner.score_rows(scorer, config, rows, counts)
                    self.metrics.scored.labels(config.evaluator).inc(counts.spans_scored)
        return written

    def on_scores(self, project_id: str, results: list[EvalResult], rows: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Scores written here or by a scheduled run (which catches up what the
        stream dropped): to /metrics and to the rule windows."""
        if self._on_results is not None:
            self._on_results(project_id, results, rows)
        scored = []
        for r in results:
            row = rows.get((r.trace_id, r.span_id))
            if row is None:
                continue
            found = frozenset(str(f.get("entity_type") or f.get("type") or "") for f in r.details.get("findings") or ()
                              if isinstance(f, dict))  # fmt: skip
            scored.append(ScoredSpan(project_id, r.evaluator, r.metric, r.score, found, row.get("service_name", ""),
                                     row.get("model", ""), int(row["start_ns"])))  # fmt: skip
        self.alerts.observe_scores(scored, time.time_ns())

