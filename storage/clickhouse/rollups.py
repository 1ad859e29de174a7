"""Exact per-minute usage rollups, maintained by re-aggregation.

A materialized view would add every insert to the rollup, so a retried
export (kept once by the spans table's FINAL) would count twice there.
Instead the writer marks the minutes each insert touched, and `Rollups`
re-aggregates exactly those minutes from `spans FINAL` a moment later; the
new aggregate replaces the old one (ReplacingMergeTree on version).  Reads
combine the rollup for settled minutes with the spans table for minutes still
marked, so answers are exact and current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from storage.clickhouse.tables import Tables

log = logging.getLogger(__name__)

MINUTE_NS = 60 * 10**9
ROLLUP_DIMENSIONS = {"model": "model", "provider": "provider", "service": "service_name"}

Range = tuple[int, int]  # [lo_ns, hi_ns), minute aligned


def _merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def touched_minutes(batch: pa.Table) -> dict[str, list[Range]]:
    """(project -> minute ranges) covered by an inserted spans batch."""
    if batch.num_rows == 0:
        return {}
    minutes = pc.divide(pc.cast(pc.cast(batch.column("start_time"), pa.int64()), pa.int64()), MINUTE_NS)
    pairs = pa.table({"p": batch.column("project_id"), "m": minutes}).group_by(["p", "m"]).aggregate([])
    out: dict[str, list[Range]] = {}
    for p, m in zip(pairs.column("p").to_pylist(), pairs.column("m").to_pylist(), strict=True):
        out.setdefault(p, []).append((m * MINUTE_NS, (m + 1) * MINUTE_NS))
    return {p: _merge(r) for p, r in out.items()}


def _insert_sql(tables: Tables, rollup_table: str) -> str:
    counted = "counts_usage = 1"
    return f"""
        INSERT INTO {rollup_table}
            (project_id, minute, service_name, provider, model, requests, errors, uncached_input_tokens,
             cache_read_tokens, cache_write_tokens, output_text_tokens, reasoning_tokens, cost_total,
             provider_cost, unpriced, duration_ns_sum, version)
        SELECT project_id, toStartOfMinute(start_time) AS minute, service_name, provider, model,
               countIf({counted}), countIf({counted} AND status_code = 2),
               sumIf(uncached_input_tokens, {counted}), sumIf(cache_read_tokens, {counted}),
               sumIf(cache_write_tokens, {counted}), sumIf(output_text_tokens, {counted}),
               sumIf(reasoning_tokens, {counted}), sumIf(cost_total, {counted}),
               sumIf(provider_cost, {counted}), countIf({counted} AND cost_total IS NULL),
               sumIf(duration_ns, {counted}), {{version:UInt64}}
        FROM {tables.spans} FINAL
        WHERE project_id = {{project:String}}
          AND start_time >= fromUnixTimestamp64Nano({{lo:Int64}}) AND start_time < fromUnixTimestamp64Nano({{hi:Int64}})
          AND span_type IN ('llm', 'embedding')
        GROUP BY project_id, minute, service_name, provider, model
    """


class Rollups:
    """Marks touched minutes and re-aggregates them.  Thread-safe marks (the
    writer calls `mark_batch` from its insert callback)."""

    def __init__(
        self,
        client_factory: Callable[[], Client],
        tables: Tables,
        rollup_table: str = "usage_minute",
        *,
        settle_seconds: float = 5.0,
    ) -> None:
        self._client_factory = client_factory
        self._client: Client | None = None
        self._tables = tables
        self.table = rollup_table
        self._lock = threading.Lock()
        self._dirty: dict[str, list[Range]] = {}
        self._refreshing: dict[str, list[Range]] = {}
        self._sql = _insert_sql(tables, rollup_table)
        # A minute is aggregated once it has ended (plus a grace period), not
        # while spans still pour into it: the open minute is read from spans.
        self._settle_ns = int(settle_seconds * 1e9)
        self.refreshes = 0

    def mark(self, project_id: str, lo_ns: int, hi_ns: int) -> None:
        lo = lo_ns - lo_ns % MINUTE_NS
        hi = hi_ns + (-hi_ns) % MINUTE_NS
        with self._lock:
            self._dirty.setdefault(project_id, []).append((lo, max(hi, lo + MINUTE_NS)))

    def mark_batch(self, batch: pa.Table) -> None:
        touched = touched_minutes(batch)
        with self._lock:
            for p, ranges in touched.items():
                self._dirty.setdefault(p, []).extend(ranges)

    def pending(self, project_id: str) -> list[Range]:
        """Minutes whose rollup may be stale: read these from the spans table."""
        with self._lock:
            return _merge(self._dirty.get(project_id, []) + self._refreshing.get(project_id, []))

    def refresh(self, now_ns: int | None = None, *, everything: bool = False) -> int:
        """Re-aggregate the marked minutes that have settled (all of them with
        `everything`); returns how many ranges ran."""
        cutoff = (time.time_ns() if now_ns is None else now_ns) - self._settle_ns
        cutoff -= cutoff % MINUTE_NS
        with self._lock:
            work: dict[str, list[Range]] = {}
            keep: dict[str, list[Range]] = {}
            for p, ranges in self._dirty.items():
                for lo, hi in _merge(ranges):
                    if everything or hi <= cutoff:
                        work.setdefault(p, []).append((lo, hi))
                    elif lo < cutoff:
                        work.setdefault(p, []).append((lo, cutoff))
                        keep.setdefault(p, []).append((cutoff, hi))
                    else:
                        keep.setdefault(p, []).append((lo, hi))
            self._dirty = keep
            for p, r in work.items():
                self._refreshing.setdefault(p, []).extend(r)
        if not work:
            return 0
        if self._client is None:
            self._client = self._client_factory()
        n = 0
        try:
            for project, ranges in work.items():
                for lo, hi in ranges:
                    self._client.command(
                        self._sql,
                        parameters={"project": project, "lo": lo, "hi": hi, "version": time.time_ns()},
                        settings={"prefer_column_name_to_alias": 1, "do_not_merge_across_partitions_select_final": 1},
                    )
                    n += 1
        except Exception:
            with self._lock:  # keep them marked: the next round retries
                for p, r in work.items():
                    self._dirty.setdefault(p, []).extend(r)
            raise
        finally:
            with self._lock:
                for p in work:
                    self._refreshing.pop(p, None)
        self.refreshes += n
        return n

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
