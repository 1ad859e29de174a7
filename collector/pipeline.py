"""The CPU-bound half of ingest, runnable in worker processes.

decompress -> decode -> normalise -> resolve layers -> price -> Arrow IPC.
Everything here is pure with respect to the request, so exports can be
prepared on every core while the server process only moves bytes and
inserts (the GIL would otherwise cap ingest at one core).  Each worker keeps
one `Preparer` (its price and retention caches, read from the metadata DB);
the server process never shares Python objects with them, only bytes.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from collector.normalize.layers import resolve_layers
from collector.normalize.spans import normalize_traces
from collector.otlp import decode, errors
from collector.pricing import Pricer
from collector.rows import spans_to_batch
from collector import sampling
from collector.signals import logs_to_events, metrics_to_rows
from collector.ttl_cache import TTLCache
from storage.metadata.types import PriceOverride, Project, SamplingRules

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Prepared:
    """A ready-to-insert batch.  `ipc` is an Arrow IPC stream (cheap to send
    between processes); `table` is set instead when prepared in-process."""

    rows: int
    rejected: int = 0
    message: str = ""
    skipped: int = 0
    ipc: bytes | None = None
    table: pa.Table | None = None

    def arrow(self) -> pa.Table:
        if self.table is not None:
            return self.table
        assert self.ipc is not None
        return pa.ipc.open_stream(self.ipc).read_all()


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


class Preparer:
    """Per-process ingest context: a pricer whose overrides and the projects'
    retention come from the metadata DB, cached for `cache_seconds`."""

    def __init__(self, database_url: str, default_retention_days: int, cache_seconds: float, max_request_bytes: int):
        from storage.metadata.db import make_engine
        from storage.metadata.repo import MetadataRepo

        self._repo = MetadataRepo(make_engine(database_url))
        self._default_retention = default_retention_days
        self._prices = TTLCache(cache_seconds)
        self._projects = TTLCache(cache_seconds)
        self.max_request_bytes = max_request_bytes
        self.pricer = Pricer(self.overrides)
        from collector.redact import from_settings  # PII redaction (LLMOBS_REDACT_PII); None when off

        self.redactor = from_settings()

    def overrides(self, project_id: str) -> Sequence[PriceOverride]:
        return self._prices.get(project_id, self._repo.list_price_overrides)

    def _project(self, project_id: str) -> Project | None:
        return self._projects.get(project_id, self._repo.get_project)

    def retention_days(self, project_id: str) -> int:
        p = self._project(project_id)
        return p.retention_days if p else self._default_retention

    def sampling_rules(self, project_id: str) -> SamplingRules:
        p = self._project(project_id)
        return p.sampling if p else SamplingRules()

    def _bytes(self, payload: bytes, encoding: str | None) -> bytes:
        return decode.decompress(payload, encoding, self.max_request_bytes)

    def traces(self, payload: bytes, encoding: str | None, mtype: str, project_id: str) -> Prepared:
        req, salvage = decode.decode_traces(self._bytes(payload, encoding), mtype)
        if self.redactor is not None:  # PII redaction at ingest
            self.redactor.redact_traces(req)
        result = normalize_traces(req, project_id)
        resolve_layers(result.spans)
        sampling.apply(result.spans, self.sampling_rules(project_id))
        costs = [self.pricer.price(s.genai, project_id=project_id, start_ns=s.start_ns) for s in result.spans]
        table = spans_to_batch(result.spans, costs, self.retention_days(project_id))
        rejected, message = result.rejected, result.message
        if salvage.dropped_spans:
            rejected += salvage.dropped_spans
            message = "; ".join(m for m in (f"{salvage.dropped_spans} span(s) undecodable: {salvage.reason}", message) if m)
        return Prepared(table.num_rows, rejected, message, table=table)

    def logs(self, payload: bytes, encoding: str | None, mtype: str, project_id: str) -> Prepared:
        req = decode.decode_logs(self._bytes(payload, encoding), mtype)
        if self.redactor is not None:  # PII redaction at ingest
            self.redactor.redact_logs(req)
        rules = self.sampling_rules(project_id)
        keep = None if rules.keeps_everything else (lambda t: sampling.trace_kept_by_hash(t, rules.keep_share))
        rows = logs_to_events(req, project_id, self.retention_days(project_id), keep_trace=keep)
        return Prepared(rows.batch.num_rows, skipped=rows.skipped, table=rows.batch)

    def metrics(self, payload: bytes, encoding: str | None, mtype: str, project_id: str) -> Prepared:
        req = decode.decode_metrics(self._bytes(payload, encoding), mtype)
        rows = metrics_to_rows(req, project_id, self.retention_days(project_id))
        return Prepared(rows.batch.num_rows, skipped=rows.skipped, table=rows.batch)


# ---- worker-process entry points ---------------------------------------------------------
# A process pool calls module-level functions; the per-process Preparer is
# created once by the pool's initializer and lives as long as the worker.

_worker: Preparer | None = None


def _exit_with_parent() -> None:
    """A worker must not outlive its server (kill -9 of the server would
    otherwise leave orphans holding memory): ask the kernel for SIGKILL when
    the parent dies, and poll the parent id as a fallback elsewhere."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def init_worker(database_url: str, default_retention_days: int, cache_seconds: float, max_request_bytes: int) -> None:
    global _worker  # noqa: PLW0603 - one context per worker process, by design
    _exit_with_parent()
    logging.basicConfig(level=os.environ.get("LLMOBS_LOG_LEVEL", "INFO"))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _worker = Preparer(database_url, default_retention_days, cache_seconds, max_request_bytes)
    # Normalising allocates ~50 short-lived objects per span; leave the
    # modules and caches loaded so far out of every collection, and collect
    # less often (each export's objects die together at its end).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def run_in_worker(signal: str, payload: bytes, encoding: str | None, mtype: str, project_id: str) -> Prepared:
    assert _worker is not None, "init_worker was not called"
    prepared: Prepared = getattr(_worker, signal)(payload, encoding, mtype, project_id)
    if prepared.table is not None:
        prepared.ipc = _ipc(prepared.table)
        prepared.table = None
    return prepared


def warm_up() -> int:
    return os.getpid()
