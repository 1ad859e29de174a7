"""The one writer per table: group commit with a bounded queue.

Receivers hand it a whole export's rows and await the returned future; the
writer drains everything queued so far into ONE insert, then resolves every
waiter.  So concurrent exports share an insert (ClickHouse wants thousands of
rows per insert), an export is acknowledged only after its rows are written,
and memory stays bounded: when `max_queued_rows` would be exceeded, `submit`
raises `QueueFull` at once and the receiver answers "retry later".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The write queue is at its bound; the caller should retry later."""


class WriteFailed(Exception):
    """The insert failed; nothing from the batch is acknowledged."""


@dataclass(slots=True)
class WriterStats:
    rows_written: int = 0
    inserts: int = 0
    failures: int = 0
    retries: int = 0


@dataclass(slots=True)
class _Pending:
    batch: pa.Table
    future: asyncio.Future[None]
    size: int


class TableWriter:
    def __init__(
        self,
        client_factory: Callable[[], Client],
        table: str,
        *,
        max_batch_rows: int = 50_000,
        max_queued_rows: int = 500_000,
        max_queued_bytes: int = 512 * 1024 * 1024,
        linger_seconds: float = 0.005,
        on_insert: Callable[[int, float], None] | None = None,
        on_batch: Callable[[pa.Table], None] | None = None,
        retries: int = 3,
        lanes: int = 1,
    ) -> None:
        self._client_factory = client_factory
        # One client per lane: inserts on separate clients run side by side
        # (a client serialises its own calls), so with several lanes the
        # engine's insert work uses more than one core.
        self._clients: list[Client | None] = [None] * max(1, lanes)
        self.table = table
        self.max_batch_rows = max_batch_rows
        self.max_queued_rows = max_queued_rows
        self.max_queued_bytes = max_queued_bytes
        self._queued_bytes = 0
        self.linger_seconds = linger_seconds
        self._on_insert = on_insert
        self._on_batch = on_batch
        self.retries = retries
        self._pending: list[_Pending] = []
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.stats = WriterStats()

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    async def start(self) -> None:
        for lane in range(len(self._clients)):
            self._clients[lane] = await asyncio.to_thread(self._client_factory)
            self._tasks.append(asyncio.create_task(self._run(lane), name=f"writer-{self.table}-{lane}"))

    def submit(self, batch: pa.Table) -> asyncio.Future[None]:
        """Queue rows; the future resolves once they are durably inserted."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if batch.num_rows == 0:
            fut.set_result(None)
            return fut
        if self._closing:
            raise QueueFull("writer is shutting down")
        size = batch.nbytes
        if self._queued_rows > 0 and (
            self._queued_rows + batch.num_rows > self.max_queued_rows
            or self._queued_bytes + size > self.max_queued_bytes
        ):
            raise QueueFull(f"{self.table} write queue holds {self._queued_rows} rows, {self._queued_bytes >> 20} MiB")
        self._pending.append(_Pending(batch, fut, size))
        self._queued_rows += batch.num_rows
        self._queued_bytes += size
        self._wakeup.set()
        return fut

    async def write(self, batch: pa.Table) -> None:
        await self.submit(batch)

    async def stop(self) -> None:
        """Drain what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        await asyncio.gather(*self._tasks)
        for lane, client in enumerate(self._clients):
            if client is not None:
                await asyncio.to_thread(client.close)
                self._clients[lane] = None

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        rows = 0
        while self._pending and (not taken or rows + self._pending[0].batch.num_rows <= self.max_batch_rows):
            item = self._pending.pop(0)
            taken.append(item)
            rows += item.batch.num_rows
        return taken

    async def _run(self, lane: int) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.linger_seconds and not self._closing:
                # Let requests that arrive together share one insert.
                await asyncio.sleep(self.linger_seconds)
            group = self._take()
            if not group:  # another lane took them
                continue
            merged = pa.concat_tables([item.batch for item in group]) if len(group) > 1 else group[0].batch
            t0 = time.perf_counter()
            try:
                await self._insert_with_retry(merged, lane)
            except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
                self.stats.failures += 1
                log.exception("insert into %s failed (%d rows)", self.table, merged.num_rows)
                err = WriteFailed(f"insert into {self.table} failed: {exc}")
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(err)
            else:
                elapsed = time.perf_counter() - t0
                self.stats.rows_written += merged.num_rows
                self.stats.inserts += 1
                if self._on_insert:
                    self._on_insert(merged.num_rows, elapsed)
                if self._on_batch:
                    try:
                        self._on_batch(merged)
                    except Exception:  # noqa: BLE001 - a listener must not fail the acknowledged write
                        log.exception("on_batch listener of %s failed", self.table)
                for item in group:
                    if not item.future.done():
                        item.future.set_result(None)
            finally:
                self._queued_rows -= merged.num_rows
                self._queued_bytes -= sum(item.size for item in group)

    async def _insert_with_retry(self, batch: pa.Table, lane: int) -> None:
        """Connection problems (a ClickHouse server restarting, a network blip)
        are retried with backoff; anything else fails the batch at once."""
        delay = 0.1
        for attempt in range(self.retries + 1):
            try:
                await asyncio.to_thread(self._insert, batch, lane)
                return
            except OperationalError:
                if attempt == self.retries or self._closing:
                    raise
                self.stats.retries += 1
                log.warning("insert into %s failed to connect; retry %d in %.1fs", self.table, attempt + 1, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                await asyncio.to_thread(self._reconnect, lane)

    def _reconnect(self, lane: int) -> None:
        client, self._clients[lane] = self._clients[lane], None
        try:
            if client is not None:
                client.close()
        finally:
            self._clients[lane] = self._client_factory()

    def _insert(self, batch: pa.Table, lane: int) -> None:
        client = self._clients[lane]
        assert client is not None
        client.insert_arrow(self.table, batch)
