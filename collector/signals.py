"""OTLP logs and metrics -> rows for the GenAI events and metrics tables.

Only GenAI signals are kept: log records whose event name starts with
`gen_ai.` and metrics whose name starts with `gen_ai.`.  Everything else is
counted as skipped (not rejected: it is valid OTLP we simply do not store).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from collector.normalize.attributes import any_value, decode_attributes, to_text
import pyarrow as pa

from storage.clickhouse.schema import EVENT_COLUMNS, EVENTS, METRIC_COLUMNS, METRICS, to_arrow

EVALUATION_EVENT = "gen_ai.evaluation.result"



@dataclass(slots=True)
class SignalRows:
    batch: pa.Table
    skipped: int = 0


def _hash64(*parts: Any) -> int:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "little")


def _service(resource: dict[str, Any]) -> str:
    s = resource.get("service.name")
    return s if isinstance(s, str) and s else "unknown_service"


def logs_to_events(
    req: ExportLogsServiceRequest, project_id: str, retention_days: int, keep_trace: Callable[[str], bool] | None = None
) -> SignalRows:
    """GenAI log events -> rows.  With `keep_trace` (ingest sampling), message
    events of traces it rejects are skipped; evaluation results always stay."""
    cols: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
    skipped = 0
    version = time.time_ns()
    for rl in req.resource_logs:
        resource, resource_text = decode_attributes(rl.resource.attributes)
        service = _service(resource)
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                attrs, attrs_text = decode_attributes(rec.attributes)
                name = rec.event_name or attrs.get("event.name") or ""
                if not isinstance(name, str) or not name.startswith("gen_ai."):
                    skipped += 1
                    continue
                body = any_value(rec.body) if rec.HasField("body") else None
                body_text = to_text(body) if body is not None else ""
                ts = rec.time_unix_nano or rec.observed_time_unix_nano
                trace_id = rec.trace_id.hex() if len(rec.trace_id) == 16 else ""
                span_id = rec.span_id.hex() if len(rec.span_id) == 8 else ""
                if keep_trace is not None and trace_id and name != EVALUATION_EVENT and not keep_trace(trace_id):
                    skipped += 1
                    continue
                row = (
                    project_id, ts, trace_id, span_id, name, service, rec.severity_number, body_text,
                    attrs_text, resource_text,
                    _hash64(trace_id, span_id, ts, name, body_text, sorted(attrs.items(), key=lambda kv: kv[0])),
                    retention_days, version,
                )  # fmt: skip
                for c, v in zip(EVENT_COLUMNS, row, strict=True):
                    cols[c].append(v)
    return SignalRows(to_arrow(EVENTS, cols), skipped)


def _number(dp: Any) -> float:
    return float(dp.as_int) if dp.WhichOneof("value") == "as_int" else float(dp.as_double)


def metrics_to_rows(req: ExportMetricsServiceRequest, project_id: str, retention_days: int) -> SignalRows:
    cols: dict[str, list[Any]] = {c: [] for c in METRIC_COLUMNS}
    skipped = 0
    version = time.time_ns()

    def add(metric: Any, mtype: str, dp: Any, value: float, count: int, total: float,
            mn: float | None, mx: float | None, buckets: list[int], bounds: list[float],
            resource_text: dict[str, str], service: str) -> None:  # fmt: skip
        attrs = decode_attributes(dp.attributes)[1]
        row = (
            project_id, dp.time_unix_nano, dp.start_time_unix_nano, metric.name, mtype, metric.unit,
            service, attrs, resource_text, value, count, total, mn, mx, buckets, bounds,
            _hash64(metric.name, service, sorted(attrs.items()), dp.start_time_unix_nano, dp.time_unix_nano),
            retention_days, version,
        )  # fmt: skip
        for c, v in zip(METRIC_COLUMNS, row, strict=True):
            cols[c].append(v)

    for rm in req.resource_metrics:
        resource, resource_text = decode_attributes(rm.resource.attributes)
        service = _service(resource)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name.startswith("gen_ai."):
                    skipped += 1
                    continue
                kind = metric.WhichOneof("data")
                if kind in ("gauge", "sum"):
                    for dp in getattr(metric, kind).data_points:
                        v = _number(dp)
                        add(metric, kind, dp, v, 1, v, v, v, [], [], resource_text, service)
                elif kind == "histogram":
                    for dp in metric.histogram.data_points:
                        add(metric, kind, dp, dp.sum / dp.count if dp.count else 0.0, dp.count, dp.sum,
                            dp.min if dp.HasField("min") else None, dp.max if dp.HasField("max") else None,
                            list(dp.bucket_counts), list(dp.explicit_bounds), resource_text, service)  # fmt: skip
                elif kind == "exponential_histogram":
                    for dp in metric.exponential_histogram.data_points:
                        add(metric, kind, dp, dp.sum / dp.count if dp.count else 0.0, dp.count, dp.sum,
                            dp.min if dp.HasField("min") else None, dp.max if dp.HasField("max") else None,
                            [], [], resource_text, service)  # fmt: skip
                elif kind == "summary":
                    for dp in metric.summary.data_points:
                        add(metric, kind, dp, dp.sum / dp.count if dp.count else 0.0, dp.count, dp.sum,
                            None, None, [], [], resource_text, service)  # fmt: skip
                else:
                    skipped += 1
    return SignalRows(to_arrow(METRICS, cols), skipped)
