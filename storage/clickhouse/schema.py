"""Arrow schemas of the tables the writer fills (names and order must match the
migrations).  Batches travel as Arrow from the normalising workers to the
writer, and clickhouse-connect inserts them as ArrowStream: the engine parses
them without a per-value Python loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

TS = pa.timestamp("ns", tz="UTC")
MONEY = pa.decimal128(18, 12)
STR = pa.string()
MAP = pa.map_(pa.string(), pa.string())


@dataclass(frozen=True)
class TableSchema:
    table: str
    fields: tuple[tuple[str, pa.DataType], ...]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.fields]

    @property
    def arrow(self) -> pa.Schema:
        return pa.schema([pa.field(n, t) for n, t in self.fields])


def map_array(values: list[dict[str, str]]) -> pa.Array:
    """list of dicts -> MapArray through flat key/value/offset arrays (about
    twice as fast as letting pyarrow walk the dicts)."""
    offsets = [0]
    keys: list[str] = []
    items: list[str] = []
    for d in values:
        keys.extend(d.keys())
        items.extend(d.values())
        offsets.append(len(keys))
    return pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(keys, STR), pa.array(items, STR))


def to_arrow(schema: TableSchema, columns: dict[str, Any]) -> pa.Table:
    arrays = []
    for name, typ in schema.fields:
        values = columns[name]
        if isinstance(values, pa.Array):  # built by the caller (e.g. a shared map repeated by take)
            arrays.append(values)
        elif typ == MAP:
            arrays.append(map_array(values))
        else:
            arrays.append(pa.array(values, typ))
    return pa.Table.from_arrays(arrays, schema=schema.arrow)


SPANS = TableSchema(
    "spans",
    (
        ("project_id", STR), ("start_time", TS), ("end_time", TS), ("duration_ns", pa.uint64()),
        ("trace_id", STR), ("span_id", STR), ("parent_span_id", STR), ("name", STR), ("kind", pa.uint8()),
        ("status_code", pa.uint8()), ("status_message", STR), ("error_type", STR), ("service_name", STR),
        ("scope_name", STR), ("scope_version", STR), ("dialect", STR), ("span_type", STR), ("operation", STR),
        ("provider", STR), ("request_model", STR), ("response_model", STR), ("model", STR),
        ("counts_usage", pa.uint8()),
        ("sent_input_tokens", pa.uint64()), ("sent_output_tokens", pa.uint64()),
        ("sent_cache_read_tokens", pa.uint64()), ("sent_cache_write_tokens", pa.uint64()),
        ("sent_reasoning_tokens", pa.uint64()), ("sent_total_tokens", pa.uint64()),
        ("uncached_input_tokens", pa.uint64()), ("cache_read_tokens", pa.uint64()),
        ("cache_write_tokens", pa.uint64()), ("output_text_tokens", pa.uint64()), ("reasoning_tokens", pa.uint64()),
        ("ttft_ns", pa.uint64()), ("temperature", pa.float64()), ("max_tokens", pa.uint64()),
        ("top_p", pa.float64()), ("seed", pa.int64()), ("stream", pa.uint8()),
        ("finish_reasons", pa.list_(STR)), ("response_id", STR), ("session_id", STR), ("user_id", STR),
        ("tool_name", STR), ("agent_name", STR), ("input_messages", STR), ("output_messages", STR),
        ("system_instructions", STR), ("tool_definitions", STR), ("documents", STR),
        ("provider_cost", MONEY), ("cost_input", MONEY), ("cost_cache_read", MONEY), ("cost_cache_write", MONEY),
        ("cost_output", MONEY), ("cost_reasoning", MONEY), ("cost_total", MONEY),
        ("price_status", STR), ("price_source", STR), ("price_version", STR),
        ("resource_attributes", MAP), ("span_attributes", MAP), ("events", STR), ("links", STR),
        ("content_kept", pa.uint8()), ("retention_days", pa.uint16()), ("ingested_at", TS), ("version", pa.uint64()),
    ),
)  # fmt: skip

EVENTS = TableSchema(
    "genai_events",
    (
        ("project_id", STR), ("time", TS), ("trace_id", STR), ("span_id", STR), ("event_name", STR),
        ("service_name", STR), ("severity_number", pa.uint8()), ("body", STR), ("attributes", MAP),
        ("resource_attributes", MAP), ("record_id", pa.uint64()), ("retention_days", pa.uint16()),
        ("version", pa.uint64()),
    ),
)  # fmt: skip

METRICS = TableSchema(
    "genai_metrics",
    (
        ("project_id", STR), ("time", TS), ("start_time", TS), ("metric_name", STR), ("metric_type", STR),
        ("unit", STR), ("service_name", STR), ("attributes", MAP), ("resource_attributes", MAP),
        ("value", pa.float64()), ("count", pa.uint64()), ("sum", pa.float64()), ("min", pa.float64()),
        ("max", pa.float64()), ("bucket_counts", pa.list_(pa.uint64())), ("explicit_bounds", pa.list_(pa.float64())),
        ("point_id", pa.uint64()), ("retention_days", pa.uint16()), ("version", pa.uint64()),
    ),
)  # fmt: skip

SPAN_COLUMNS = SPANS.names
EVENT_COLUMNS = EVENTS.names
METRIC_COLUMNS = METRICS.names
COST_COLUMNS = [
    "cost_input", "cost_cache_read", "cost_cache_write", "cost_output", "cost_reasoning", "cost_total",
    "price_status", "price_source", "price_version",
]  # fmt: skip
