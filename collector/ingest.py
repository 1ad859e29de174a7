"""The one export handler behind both receivers (gRPC and HTTP).

decode (receiver) -> normalise -> price -> queue for the group-commit writer ->
acknowledge when written.  CPU work runs on a small thread pool so the event
loop keeps accepting connections while a large export is being normalised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.normalize.layers import resolve_layers
from collector.normalize.spans import normalize_traces
from collector.otlp import errors
from collector.otlp.decode import Salvage
from collector.pricing import Pricer
from collector.rows import spans_to_batch
from collector.signals import logs_to_events, metrics_to_rows
from storage.clickhouse.writer import ColumnBatch, QueueFull, TableWriter, WriteFailed


@dataclass(slots=True)
class ExportOutcome:
    rejected: int = 0
    message: str = ""
    accepted: int = 0


@dataclass(slots=True)
class Writers:
    spans: TableWriter
    events: TableWriter
    metrics: TableWriter

    def all(self) -> tuple[TableWriter, ...]:
        return (self.spans, self.events, self.metrics)


class Ingestor:
    def __init__(
        self,
        *,
        writers: Writers,
        pricer: Pricer,
        retention_days: Callable[[str], int],
        executor: Executor,
        retry_after_seconds: int,
        on_spans: Callable[[int, int], None] | None = None,
    ) -> None:
        self.writers = writers
        self.pricer = pricer
        self._retention = retention_days
        self._executor = executor
        self._retry_after = retry_after_seconds
        self._on_spans = on_spans

    async def cpu(self, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _prepare_traces(self, req: ExportTraceServiceRequest, project_id: str) -> tuple[ColumnBatch, int, str]:
        result = normalize_traces(req, project_id)
        resolve_layers(result.spans)
        costs = [self.pricer.price(s.genai, project_id=project_id, start_ns=s.start_ns) for s in result.spans]
        batch = spans_to_batch(result.spans, costs, self._retention(project_id))
        return batch, result.rejected, result.message

    async def traces(
        self, req: ExportTraceServiceRequest, project_id: str, salvage: Salvage | None = None
    ) -> ExportOutcome:
        batch, rejected, message = await self.cpu(self._prepare_traces, req, project_id)
        if salvage and salvage.dropped_spans:
            rejected += salvage.dropped_spans
            message = "; ".join(m for m in (f"{salvage.dropped_spans} span(s) undecodable: {salvage.reason}", message) if m)
        await self._write(self.writers.spans, batch)
        if self._on_spans:
            self._on_spans(batch.n_rows, rejected)
        return ExportOutcome(rejected, message, batch.n_rows)

    async def logs(self, req: ExportLogsServiceRequest, project_id: str) -> ExportOutcome:
        rows = await self.cpu(logs_to_events, req, project_id, self._retention(project_id))
        await self._write(self.writers.events, rows.batch)
        return ExportOutcome(0, "", rows.batch.n_rows)

    async def metrics(self, req: ExportMetricsServiceRequest, project_id: str) -> ExportOutcome:
        rows = await self.cpu(metrics_to_rows, req, project_id, self._retention(project_id))
        await self._write(self.writers.metrics, rows.batch)
        return ExportOutcome(0, "", rows.batch.n_rows)

    async def _write(self, writer: TableWriter, batch: ColumnBatch) -> None:
        try:
            fut = writer.submit(batch)
        except QueueFull as exc:
            raise errors.overloaded(f"server busy: {exc}; retry later", self._retry_after) from exc
        try:
            await asyncio.shield(fut)
        except WriteFailed as exc:
            raise errors.write_failed(str(exc), self._retry_after) from exc
