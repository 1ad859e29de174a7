"""The one export handler behind both receivers (gRPC and HTTP).

Receivers pass the raw request bytes; the CPU-bound preparation (decode,
normalise, price, Arrow) runs on a worker pool (`collector/pipeline.py`), and
the prepared batch goes to the group-commit writer.  The export is
acknowledged only when its rows are written.  Memory stays bounded twice:
bytes being prepared are capped (`max_inflight_bytes`) and rows waiting for
the writer are capped by the writer's queue; past either cap the export is
refused at once with a retry delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from collector.otlp import errors
from collector.pipeline import Prepared
from storage.clickhouse.writer import QueueFull, TableWriter, WriteFailed

PrepareFn = Callable[[str, bytes, "str | None", str, str], Awaitable[Prepared]]


@dataclass(slots=True)
class ExportOutcome:
    rejected: int = 0
    message: str = ""

    def response(self, response_cls: type[Message]) -> Message:
        """The OTLP Export*ServiceResponse, with partial_success when needed."""
        resp = response_cls()
        if self.rejected or self.message:
            ps = resp.partial_success
            if hasattr(ps, "rejected_spans"):
                ps.rejected_spans = self.rejected
            ps.error_message = self.message
        return resp


@dataclass(slots=True)
class Writers:
    spans: TableWriter
    events: TableWriter
    metrics: TableWriter

    def all(self) -> tuple[TableWriter, ...]:
        return (self.spans, self.events, self.metrics)

    def for_signal(self, signal: str) -> TableWriter:
        return {"traces": self.spans, "logs": self.events, "metrics": self.metrics}[signal]


class Ingestor:
    def __init__(
        self,
        *,
        writers: Writers,
        prepare: PrepareFn,
        retry_after_seconds: int,
        max_inflight_bytes: int,
        on_spans: Callable[[int, int], None] | None = None,
    ) -> None:
        self.writers = writers
        self._prepare = prepare
        self._retry_after = retry_after_seconds
        self._max_inflight = max_inflight_bytes
        self._inflight = 0
        self._on_spans = on_spans

    @property
    def inflight_bytes(self) -> int:
        return self._inflight

    async def export(self, signal: str, payload: bytes, encoding: str | None, mtype: str, project_id: str) -> ExportOutcome:
        size = len(payload)
        if self._inflight + size > self._max_inflight and self._inflight > 0:
            raise errors.overloaded(
                f"server busy: {self._inflight} bytes of exports are being prepared; retry later", self._retry_after
            )
        self._inflight += size
        try:
            prepared = await self._prepare(signal, payload, encoding, mtype, project_id)
        finally:
            self._inflight -= size
        await self._write(self.writers.for_signal(signal), prepared)
        if signal == "traces" and self._on_spans:
            self._on_spans(prepared.rows, prepared.rejected)
        return ExportOutcome(prepared.rejected, prepared.message)

    async def _write(self, writer: TableWriter, prepared: Prepared) -> None:
        if prepared.rows == 0:
            return
        try:
            fut = writer.submit(prepared.arrow())
        except QueueFull as exc:
            raise errors.overloaded(f"server busy: {exc}; retry later", self._retry_after) from exc
        try:
            await asyncio.shield(fut)
        except WriteFailed as exc:
            raise errors.write_failed(str(exc), self._retry_after) from exc
