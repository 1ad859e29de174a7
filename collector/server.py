"""The llmobs server process: owns the ClickHouse handle (chDB allows one
process per directory), the metadata DB, the writers, both OTLP receivers and
the HTTP API, composed in one asyncio loop and torn down in reverse order.

Start order follows the OTel Collector: storage and writers first, receivers
last; shutdown stops the receivers first, then drains the writers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import uvicorn
from clickhouse_connect.driver.client import Client

from collector.auth import Authenticator
from collector.ingest import Ingestor, Writers
from collector.metrics import ServerMetrics
from collector.otlp.grpc_receiver import build_grpc_server
from collector.otlp.http_receiver import build_otlp_http_app
from collector.periodic import every
from collector.pricing import Pricer
from collector.reconcile import LayerReconciler
from collector.settings import Settings
from collector.ttl_cache import TTLCache
from collector.otlp import errors
from collector.pipeline import Prepared, Preparer, init_worker, run_in_worker, warm_up
from storage.clickhouse import migrate
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.queries import Queries
from storage.clickhouse.rollups import Rollups
from storage.clickhouse.tables import Tables
from storage.clickhouse.writer import TableWriter
from storage.metadata.db import make_engine, upgrade
from storage.metadata.repo import MetadataRepo

log = logging.getLogger(__name__)


class ReaderPool:
    """A few ClickHouse clients for API reads: a client serialises its own
    calls, so one slow query must not queue every other request behind it."""

    def __init__(self, target: ClickHouseTarget, size: int = 4) -> None:
        self._tables = Tables.for_cluster(target.cluster)
        self._pair_lock = threading.Lock()
        self._clients: queue.Queue[Client] = queue.Queue()
        for _ in range(size):
            self._clients.put(connect(target))

    @contextmanager
    def queries(self) -> Iterator[Queries]:
        client = self._clients.get()
        try:
            yield Queries(client, self._tables)
        finally:
            self._clients.put(client)

    @contextmanager
    def pair(self) -> Iterator[tuple[Queries, Queries]]:
        """Two clients for a request that reads twice side by side.  Pairs are
        taken one request at a time, so two half-served pairs can never hold
        every client while each waits for its second."""
        with self._pair_lock:
            a = self._clients.get()
            b = self._clients.get()
        try:
            yield Queries(a, self._tables), Queries(b, self._tables)
        finally:
            self._clients.put(a)
            self._clients.put(b)

    def close(self) -> None:
        while not self._clients.empty():
            self._clients.get_nowait().close()


@dataclass
class App:
    """Everything a request handler may need, built once at start."""

    settings: Settings
    target: ClickHouseTarget
    repo: MetadataRepo
    auth: Authenticator
    pricer: Pricer
    readers: ReaderPool
    ingestor: Ingestor
    metrics: ServerMetrics
    price_cache: TTLCache
    rollups: Rollups
    default_key: str | None = None
    background: set[asyncio.Task] = field(default_factory=set)
    worker: Any = None  # evaluators.worker.app.WorkerServices: evaluation worker, alerts, hooks

    def spawn(self, coro) -> asyncio.Task:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task


def prepare_storage(settings: Settings) -> tuple[ClickHouseTarget, MetadataRepo]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = ClickHouseTarget(settings.effective_clickhouse_url, settings.clickhouse_cluster)
    client = connect(bootstrap)
    try:
        migrate.upgrade(client, migrate.SchemaOptions(settings.clickhouse_database, settings.clickhouse_cluster))
    finally:
        client.close()
    target = ClickHouseTarget(bootstrap.dsn, settings.clickhouse_cluster, settings.clickhouse_database)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    return target, MetadataRepo(engine)


def _prepare_fn(settings: Settings, stack: AsyncExitStack):  # type: ignore[no-untyped-def]
    """The ingest workers: a process pool (one Preparer per process), or the
    same code on a thread of this process when ingest_workers = 0."""
    args = (
        settings.effective_database_url,
        settings.default_retention_days,
        settings.price_cache_seconds,
        settings.max_request_bytes,
    )
    if settings.ingest_workers == 0:
        preparer = Preparer(*args)
        ex: Executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="llmobs-prepare")
        stack.callback(ex.shutdown, wait=True)

        async def prepare_local(signal: str, payload: bytes, encoding: str | None, mtype: str, project: str) -> Prepared:
            fn = getattr(preparer, signal)
            return await asyncio.get_running_loop().run_in_executor(ex, fn, payload, encoding, mtype, project)

        return prepare_local

    pool = WorkerPool(settings.ingest_workers, args, settings.retry_after_seconds)
    stack.callback(pool.shutdown)
    return pool.prepare


class WorkerPool:
    """A spawn process pool that replaces itself when a worker dies (a
    crashed worker breaks a ProcessPoolExecutor for good).  The export that
    was in flight gets a retryable error; the next ones go to new workers."""

    def __init__(self, size: int, initargs: tuple, retry_after_seconds: int) -> None:
        self._size = size
        self._initargs = initargs
        self._retry_after = retry_after_seconds
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self._size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=self._initargs,
        )
        for f in [pool.submit(warm_up) for _ in range(self._size)]:
            f.result(timeout=120)  # start every worker now, not on the first export
        return pool

    async def prepare(self, signal: str, payload: bytes, encoding: str | None, mtype: str, project: str) -> Prepared:
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, run_in_worker, signal, payload, encoding, mtype, project
            )
        except BrokenProcessPool as exc:
            if pool is self._pool:  # the first waiter to notice replaces it
                log.error("an ingest worker died (%s); starting new workers", exc)
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = await asyncio.to_thread(self._start)
            raise errors.write_failed(f"ingest worker died: {exc}", self._retry_after) from exc

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


async def build_app(settings: Settings, stack: AsyncExitStack) -> App:
    target, repo = await asyncio.to_thread(prepare_storage, settings)
    _, default_key = await asyncio.to_thread(repo.ensure_default_project, settings.default_project)
    metrics = ServerMetrics(settings.metrics_label_cap)
    price_cache = TTLCache(settings.price_cache_seconds)

    def overrides(project_id: str):  # type: ignore[no-untyped-def]
        return price_cache.get(project_id, repo.list_price_overrides)

    pricer = Pricer(overrides)

    def factory() -> Client:
        return connect(target)

    tables = Tables.for_cluster(settings.clickhouse_cluster)
    rollups = Rollups(factory, tables, tables.usage_minute)
    stack.callback(rollups.close)
    # Minutes written just before a restart may not have been re-aggregated.
    now = time.time_ns()
    for project in await asyncio.to_thread(repo.list_projects):
        rollups.mark(project.id, now - 3600 * 10**9, now + 60 * 10**9)
    reconciler = LayerReconciler(factory, tables, rollups)
    stack.callback(reconciler.close)
    stop_rollups, stop_reconciler = asyncio.Event(), asyncio.Event()
    interval = settings.rollup_interval_seconds
    rollup_task = asyncio.create_task(
        every(interval, stop_rollups, rollups.refresh, functools.partial(rollups.refresh, everything=True))
    )
    reconcile_task = asyncio.create_task(every(interval, stop_reconciler, reconciler.reconcile, reconciler.reconcile))

    async def _stop_rollups() -> None:
        stop_rollups.set()
        await rollup_task

    async def _stop_reconciler() -> None:
        stop_reconciler.set()
        await reconcile_task

    after_write: list[Callable[[pa.Table], None]] = []  # the streaming scorer's offer, once built

    def on_spans_written(batch: pa.Table) -> None:
        reconciler.mark_batch(batch)
        rollups.mark_batch(batch)
        metrics.genai.observe_batch(batch)
        for listener in after_write:
            listener(batch)

    writers = Writers(
        spans=TableWriter(factory, tables.spans, max_batch_rows=settings.max_batch_rows,
                          max_queued_rows=settings.max_queued_rows, max_queued_bytes=settings.max_queued_bytes,
                          linger_seconds=settings.writer_linger_seconds,
                          on_insert=metrics.observe_insert, on_batch=on_spans_written,
                          lanes=settings.writer_lanes),
        events=TableWriter(factory, tables.events, max_queued_rows=settings.max_queued_rows),
        metrics=TableWriter(factory, tables.metrics, max_queued_rows=settings.max_queued_rows),
    )  # fmt: skip
    # Exit order (LIFO): writers drain, then the reconciler, then the rollups.
    stack.push_async_callback(_stop_rollups)
    stack.push_async_callback(_stop_reconciler)
    for w in writers.all():
        await w.start()
        stack.push_async_callback(w.stop)
    prepare = await asyncio.to_thread(_prepare_fn, settings, stack)
    readers = await asyncio.to_thread(ReaderPool, target)
    stack.callback(readers.close)
    ingestor = Ingestor(
        writers=writers,
        prepare=prepare,
        retry_after_seconds=settings.retry_after_seconds,
        max_inflight_bytes=settings.max_inflight_bytes,
        on_spans=metrics.observe_export,
    )
    metrics.bind_queue(lambda: writers.spans.queued_rows)
    auth = Authenticator(
        repo.resolve_api_key,
        disabled=settings.auth_disabled,
        default_project=settings.default_project,
        ttl=settings.api_key_cache_seconds,
    )
    state = App(settings, target, repo, auth, pricer, readers, ingestor, metrics, price_cache, rollups, default_key)
    from evaluators.worker.app import build_services, start_loops

    state.worker = await asyncio.to_thread(build_services, settings, target, metrics.registry)
    if settings.worker_in_server:
        await start_loops(state.worker, stack)
        if state.worker.stream is not None:
            after_write.append(state.worker.stream.offer)
    return state


async def serve(settings: Settings, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None,
                announce=None) -> None:  # type: ignore[no-untyped-def]
    """Run until `stop` is set (or the process is interrupted)."""
    from collector.api.app import build_api

    stop = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        app = await build_app(settings, stack)
        grpc_server = build_grpc_server(
            app.ingestor, app.auth, f"{settings.host}:{settings.otlp_grpc_port}", settings.max_request_bytes
        )
        http_cfg = uvicorn.Config(
            build_otlp_http_app(app.ingestor, app.auth, settings.max_request_bytes),
            host=settings.host, port=settings.otlp_http_port, log_level="warning", lifespan="off",
            h11_max_incomplete_event_size=1 << 20,
        )  # fmt: skip
        api_cfg = uvicorn.Config(
            build_api(app), host=settings.host, port=settings.api_port, log_level="warning", lifespan="off"
        )
        otlp_http = uvicorn.Server(http_cfg)
        api = uvicorn.Server(api_cfg)
        for srv in (otlp_http, api):
            srv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        await grpc_server.start()
        tasks = [asyncio.create_task(otlp_http.serve()), asyncio.create_task(api.serve())]
        while not (otlp_http.started and api.started):
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done() and t.exception():
                        raise t.exception()  # type: ignore[misc]
                raise RuntimeError("an HTTP server failed to start")
            await asyncio.sleep(0.02)
        if announce:
            announce(app)
        if ready:
            ready.set()
        try:
            await stop.wait()
        finally:
            otlp_http.should_exit = True
            api.should_exit = True
            await grpc_server.stop(grace=5)
            await asyncio.gather(*tasks, return_exceptions=True)
            for t in list(app.background):
                t.cancel()
