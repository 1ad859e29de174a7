"""Wiring of the worker's parts for a process: `llmobs up` (worker inside
the server, the embedded default) or `llmobs worker` (a separate replica
against a ClickHouse server)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

from collector.settings import Settings
from collector.periodic import every
from evaluators.alerts.delivery import Deliverer, DeliveryOptions
from evaluators.alerts.engine import AlertEngine
from evaluators.worker.runner import RunnerOptions
from evaluators.worker.service import EvaluationWorker
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

    def client(self):  # type: ignore[no-untyped-def]
        return connect(self.target)


def runner_options(settings: Settings) -> RunnerOptions:
    return RunnerOptions(
        batch_spans=settings.eval_batch_spans, max_pages=settings.eval_max_pages_per_run,
        settle_seconds=settings.eval_settle_seconds, lookback_seconds=settings.eval_lookback_hours * 3600,
        retries=settings.eval_retries,
    )  # fmt: skip


def build_services(settings: Settings, target: ClickHouseTarget) -> WorkerServices:
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
    ))  # fmt: skip
    alert_engine = AlertEngine(lambda: connect(target), tables, alerts)
    return WorkerServices(evaluations, worker, target, tables, alerts, alert_engine, deliverer,
                          settings.alert_interval_seconds)  # fmt: skip


async def start_loops(services: WorkerServices, stack: AsyncExitStack) -> None:
    """Run the worker, the alert checks and the delivery loop until the stack
    closes (runs and deliveries in flight finish first)."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(services.worker.serve(stop)),
        asyncio.create_task(every(services.alert_interval_seconds, stop, services.engine.check_all, lambda: None)),
        asyncio.create_task(services.deliverer.serve(stop)),
    ]

    async def _stop() -> None:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(_stop)
