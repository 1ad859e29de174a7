"""The group-commit writer on the real embedded ClickHouse engine (in this
test process, on its own chDB directory)."""

from __future__ import annotations

import asyncio

import pytest

from storage.clickhouse.client import connect
import pyarrow as pa

from storage.clickhouse.writer import QueueFull, TableWriter, WriteFailed


@pytest.fixture(scope="module")
def target(local_chdb):
    t = local_chdb
    c = connect(t)
    c.command("CREATE TABLE IF NOT EXISTS w (k UInt64, v String) ENGINE = MergeTree ORDER BY k")
    c.close()
    return t


def batch(start: int, n: int) -> pa.Table:
    return pa.table({"k": pa.array(range(start, start + n), pa.uint64()), "v": [f"v{i}" for i in range(start, start + n)]})


def count(target) -> int:
    c = connect(target)
    try:
        return int(c.command("SELECT count() FROM w"))
    finally:
        c.close()


async def test_concurrent_submits_share_inserts_and_ack_after_write(target):
    c = connect(target)
    c.command("TRUNCATE TABLE w")
    c.close()
    w = TableWriter(lambda: connect(target), "w", linger_seconds=0.01)
    await w.start()
    try:
        await asyncio.gather(*(w.write(batch(i * 100, 100)) for i in range(50)))
        # every acknowledged row is readable
        assert count(target) == 5000
        assert w.stats.rows_written == 5000
        assert w.stats.inserts < 50  # group commit: requests shared inserts
    finally:
        await w.stop()


async def test_queue_full_rejects_without_blocking(target):
    w = TableWriter(lambda: connect(target), "w", max_queued_rows=1000, linger_seconds=0.2)
    await w.start()
    try:
        first = w.submit(batch(10**6, 900))
        with pytest.raises(QueueFull):
            w.submit(batch(2 * 10**6, 200))
        await first
        assert w.queued_rows == 0
        await w.write(batch(3 * 10**6, 200))  # room again once drained
    finally:
        await w.stop()


async def test_failed_insert_fails_every_waiter(target):
    w = TableWriter(lambda: connect(target), "no_such_table")
    await w.start()
    try:
        results = await asyncio.gather(w.write(batch(0, 5)), w.write(batch(5, 5)), return_exceptions=True)
        assert all(isinstance(r, WriteFailed) for r in results)
        assert w.queued_rows == 0
    finally:
        await w.stop()


async def test_stop_drains_pending(target):
    before = count(target)
    w = TableWriter(lambda: connect(target), "w", linger_seconds=0.05)
    await w.start()
    fut = w.submit(batch(9 * 10**6, 300))
    await w.stop()
    assert fut.done() and fut.exception() is None
    assert count(target) == before + 300



async def test_lanes_insert_side_by_side_and_lose_nothing(target):
    c = connect(target)
    c.command("CREATE TABLE IF NOT EXISTS w2 (k UInt64, v String) ENGINE = MergeTree ORDER BY k")
    c.close()
    w = TableWriter(lambda: connect(target), "w2", lanes=3, linger_seconds=0.0, max_batch_rows=300)
    await w.start()
    try:
        await asyncio.gather(*(w.write(batch(i * 100, 100)) for i in range(60)))
        c = connect(target)
        assert int(c.command("SELECT count() FROM w2")) == 6000
        assert int(c.command("SELECT uniqExact(k) FROM w2")) == 6000
        c.close()
    finally:
        await w.stop()


async def test_queue_is_bounded_in_bytes_too(target):
    w = TableWriter(lambda: connect(target), "w", max_queued_bytes=50_000, linger_seconds=0.2)
    await w.start()
    try:
        first = w.submit(batch(20 * 10**6, 2000))  # ~40 KB of Arrow
        with pytest.raises(QueueFull, match="MiB"):
            w.submit(batch(21 * 10**6, 2000))
        await first
        await w.write(batch(22 * 10**6, 2000))
    finally:
        await w.stop()
