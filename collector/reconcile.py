"""After writes: find LLM calls that were counted twice because their layers
arrived in different exports, and stop counting the repeat.

The writer hands every inserted spans batch to `mark_batch`; every interval
the traces that received llm spans are read back whole, the layering rule
(`collector/normalize/layers.py`) picks the spans that must not count, and
those still counted are rewritten.  Their minutes are then re-aggregated by
the rollups.  Idempotent, so several server replicas may do the same work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from collector.normalize.layers import Node, not_counted
from storage.clickhouse import layers as sql
from storage.clickhouse.rollups import Rollups
from storage.clickhouse.tables import Tables

log = logging.getLogger(__name__)

_USAGE = ("llm", "embedding")


class LayerReconciler:
    def __init__(self, client_factory: Callable[[], Client], tables: Tables, rollups: Rollups) -> None:
        self._client_factory = client_factory
        self._client: Client | None = None
        self._tables = tables
        self._rollups = rollups
        self._lock = threading.Lock()
        self._pending: dict[str, set[str]] = {}  # project -> trace ids to look at
        self.flipped = 0

    def mark_batch(self, batch: pa.Table) -> None:
        llm = batch.filter(pc.is_in(batch.column("span_type"), pa.array(_USAGE)))
        if llm.num_rows == 0:
            return
        for project in pc.unique(llm.column("project_id")).to_pylist():
            part = llm.filter(pc.equal(llm.column("project_id"), project))
            ids = set(pc.unique(part.column("trace_id")).to_pylist())
            with self._lock:
                self._pending.setdefault(project, set()).update(ids)

    def reconcile(self) -> int:
        with self._lock:
            work, self._pending = self._pending, {}
        if not work:
            return 0
        if self._client is None:
            self._client = self._client_factory()
        flipped = 0
        try:
            for project, trace_ids in work.items():
                ids = sorted(trace_ids)
                for i in range(0, len(ids), 5000):
                    flipped += self._one(project, ids[i : i + 5000])
        except Exception:
            with self._lock:  # try these traces again next round (the rule is idempotent)
                for project, ids_ in work.items():
                    self._pending.setdefault(project, set()).update(ids_)
            raise
        self.flipped += flipped
        return flipped

    def _one(self, project: str, trace_ids: list[str]) -> int:
        assert self._client is not None
        rows = sql.trace_shapes(self._client, self._tables, project, trace_ids)
        nodes = [Node(t, s, p, bool(usage), bool(server)) for t, s, p, usage, server, _, _ in rows]
        drop = not_counted(nodes)
        todo = [(t, s, start) for t, s, _, _, _, counted, start in rows if counted and (t, s) in drop]
        if not todo:
            return 0
        starts = [start for _, _, start in todo]
        sql.stop_counting(self._client, self._tables, project, [(t, s) for t, s, _ in todo], min(starts), max(starts))
        for start in starts:
            self._rollups.mark(project, start, start + 1)
        log.info("stopped counting %d repeated llm span(s) in project %s", len(todo), project)
        return len(todo)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
