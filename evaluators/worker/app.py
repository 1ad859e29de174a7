"""Wiring of the worker's parts for a process: `llmobs up` (worker inside
the server, the embedded default) or `llmobs worker` (a separate replica
against a ClickHouse server)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from collector.genai_metrics import EvaluationMetrics
from collector.periodic import every
from collector.settings import Settings
from evaluators import registry
from evaluators.alerts.incremental import IncrementalAlerts
from evaluators.alerts.delivery import Deliverer, DeliveryOptions
from evaluators.alerts.engine import AlertEngine
from evaluators.worker.runner import RunnerOptions
from evaluators.worker.service import EvaluationWorker
from evaluators.worker.stream import SpanStream, StreamMetrics, StreamOptions
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.tables import Tables
from storage.metadata.alert_repo import AlertRepo
from storage.metadata.db import make_engine
from storage.metadata.evaluation_repo import EvaluationRepo, immediate_sqlite_transactions


@dataclass
class WorkerServices:
    evaluations: EvaluationRepo
    worker: EvaluationWorker
    target: ClickHouseTarget
    tables: Tables
    alerts: AlertRepo
    engine: AlertEngine
    deliverer: Deliverer
    alert_interval_seconds: float
    incremental: IncrementalAlerts | None = None
    stream: SpanStream | None = None  # fed by the spans writer of this process (`offer`)
    scores: EvaluationMetrics | None = None

    def client(self):  # type: ignore[no-untyped-def]
        return connect(self.target)


def runner_options(settings: Settings) -> RunnerOptions:
    return RunnerOptions(
        batch_spans=settings.eval_batch_spans, max_pages=settings.eval_max_pages_per_run,
        settle_seconds=settings.eval_settle_seconds, lookback_seconds=settings.eval_lookback_hours * 3600,
        retries=settings.eval_retries, streamed=registry.STREAMING if settings.eval_stream else frozenset(),
        stream_settle_seconds=settings.eval_stream_settle_seconds,
    )  # fmt: skip


def build_services(settings: Settings, target: ClickHouseTarget,
                   metrics_registry: CollectorRegistry | None = None) -> WorkerServices:  # fmt: skip
    """`metrics_registry`: the server's /metrics registry, where the stream's
    counters and the evaluator score summaries are exposed."""
    engine = immediate_sqlite_transactions(make_engine(settings.effective_database_url))
    evaluations = EvaluationRepo(engine)
    tables = Tables.for_cluster(settings.clickhouse_cluster)
    worker = EvaluationWorker(
        lambda: connect(target), tables, evaluations, runner_options(settings),
        concurrency=settings.eval_concurrency, lease_seconds=settings.eval_lease_seconds,
        poll_seconds=settings.eval_poll_seconds,
    )  # fmt: skip
    alerts = AlertRepo(engine)
    deliverer = Deliverer(alerts, DeliveryOptions(
        timeout_seconds=settings.hook_timeout_seconds, max_attempts=settings.hook_max_attempts,
        backoff_seconds=settings.hook_backoff_seconds,
        public_url=settings.api_url or f"http://{settings.host}:{settings.api_port}",
    ))  # fmt: skip
    alert_engine = AlertEngine(lambda: connect(target), tables, alerts)
    services = WorkerServices(evaluations, worker, target, tables, alerts, alert_engine, deliverer,
                              settings.alert_interval_seconds)  # fmt: skip
    if metrics_registry is not None:
        services.scores = EvaluationMetrics(metrics_registry, settings.metrics_label_cap)
        worker.on_results = services.scores.observe
    if settings.eval_stream:
        streamed = registry.STREAMING if settings.alert_streaming else frozenset()
        # With alert_streaming off no rule has an incremental form: all are judged in SQL.
        services.incremental = IncrementalAlerts(alert_engine, streamed, enabled=settings.alert_streaming)
        services.stream = SpanStream(
            lambda: connect(target), tables, evaluations, worker.scorers, worker.options, services.incremental,
            StreamOptions(max_queued_spans=settings.stream_max_queued_spans,
                          max_backlog_spans=settings.stream_max_backlog_spans,
                          score_batch_spans=settings.stream_batch_spans, tick_seconds=settings.stream_tick_seconds,
                          stale_seconds=settings.eval_stream_settle_seconds),
            StreamMetrics(metrics_registry), on_results=worker.on_results,
        )  # fmt: skip
        worker.on_results = services.stream.on_scores  # scheduled catch-up scores reach the windows too
        worker.stream_since = services.stream.since
    return services


async def start_loops(services: WorkerServices, stack: AsyncExitStack) -> None:
    """Run the worker, the alert checks and the delivery loop until the stack
    closes (runs and deliveries in flight finish first)."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(services.worker.serve(stop)),
        asyncio.create_task(every(services.alert_interval_seconds, stop, services.engine.check_all, lambda: None)),
        asyncio.create_task(services.deliverer.serve(stop)),
    ]
    if services.stream is not None:
        tasks.append(asyncio.create_task(services.stream.serve(stop)))

    async def _stop() -> None:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(_stop)
