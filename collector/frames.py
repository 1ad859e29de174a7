"""Normalised spans -> one engine insert frame (storage/clickhouse/ingest_format.py).

The frame is the export's own OTLP bytes plus a columnar tail with what the
normaliser computed.  The engine renders the raw attribute maps from the wire
values, which is where most of the old Python-side row building went; this
module sends a map only when the engine could not render it identically
(floats, arrays, kvlists, bytes, repeated keys, or a map thinned by ingest
sampling).  Alongside, `feed` is a small Arrow table of scalar columns for
the writer's listeners (rollup marks, layer reconciliation, /metrics,
streaming evaluators), which never see message content.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from collector.normalize.canonical import CanonicalSpan
from collector.pricing import CostBreakdown
from storage.clickhouse.ingest_format import CANON, NULL_BIT, tail_class, varint

_U64 = (1 << 64) - 1
_I64_MAX = (1 << 63) - 1
_DEC_MAX = Decimal("999999.999999999999")
_Q = Decimal("0.000000000001")

# What the writer's listeners may read (see storage/clickhouse/writer.py).
FEED = pa.schema([
    ("project_id", pa.string()), ("trace_id", pa.string()), ("span_id", pa.string()),
    ("parent_span_id", pa.string()), ("start_time", pa.timestamp("ns", tz="UTC")), ("duration_ns", pa.uint64()),
    ("service_name", pa.string()), ("provider", pa.string()), ("model", pa.string()), ("span_type", pa.string()),
    ("operation", pa.string()), ("counts_usage", pa.uint8()), ("status_code", pa.uint8()),
    ("error_type", pa.string()), ("ttft_ns", pa.uint64()), ("cost_total", pa.decimal128(18, 12)),
    ("uncached_input_tokens", pa.uint64()), ("cache_read_tokens", pa.uint64()), ("cache_write_tokens", pa.uint64()),
    ("output_text_tokens", pa.uint64()), ("reasoning_tokens", pa.uint64()), ("content_kept", pa.uint8()),
])  # fmt: skip


@dataclass(slots=True)
class Frame:
    """One export, ready for the engine: `data` is a length-delimited
    IngestRequest; `feed` the scalar columns of its stored spans."""

    data: bytes
    feed: pa.Table

    @property
    def num_rows(self) -> int:
        return self.feed.num_rows

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.feed.nbytes


def _nat(v: int | None) -> int:
    if v is None:
        return 0
    return v if 0 <= v <= _U64 else min(max(int(v), 0), _U64)


def _units(v: Decimal | None) -> int | None:
    """USD as int64 units of 1e-12 (the engine stores Decimal(18, 12))."""
    if v is None or v.is_nan() or abs(v) > _DEC_MAX:
        return None
    return int(v.quantize(_Q).scaleb(12))


def _float(v: Any) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _json(v: Any) -> str:
    return orjson.dumps(v, default=str).decode() if v else ""


def build_frame(
    otlp: bytes,
    wire: list[CanonicalSpan | None],
    resources: list[tuple[dict[str, str], bool]],
    costs: dict[int, CostBreakdown],
    *,
    project_id: str,
    retention_days: int,
    version: int,
) -> Frame:
    """`wire` is every span of `otlp` in order (None = rejected); `costs` maps
    id(span) to its price.  The tail's columns follow `CANON`."""
    cols: dict[str, list[Any]] = {c.name: [] for c in CANON}
    append = {name: lst.append for name, lst in cols.items()}
    feed_rows: list[CanonicalSpan] = []
    feed_costs: list[int | None] = []
    for s in wire:
        if s is None:
            append["keep"](0)
            for c in CANON[1:]:
                append[c.name]("" if c.proto == "string" else 0)
            continue
        g = s.genai
        u = g.usage
        x = u.split()
        c = costs[id(s)]
        nulls = 0
        for name, value in (
            ("sent_input_tokens", u.input_tokens), ("sent_output_tokens", u.output_tokens),
            ("sent_cache_read_tokens", u.cache_read_tokens), ("sent_cache_write_tokens", u.cache_write_tokens),
            ("sent_reasoning_tokens", u.reasoning_tokens), ("sent_total_tokens", u.total_tokens),
        ):  # fmt: skip
            if value is None:
                nulls |= NULL_BIT[name]
            append[name](_nat(value))
        ttft = None if g.time_to_first_token_s is None else round(g.time_to_first_token_s * 1e9)
        for name, value in (
            ("ttft_ns", None if ttft is None else _nat(ttft)),
            ("max_tokens", None if g.max_tokens is None else _nat(g.max_tokens)),
            ("seed", None if g.seed is None else max(min(int(g.seed), _I64_MAX), -_I64_MAX - 1)),
            ("stream", None if g.stream is None else int(bool(g.stream))),
        ):  # fmt: skip
            if value is None:
                nulls |= NULL_BIT[name]
            append[name](0 if value is None else value)
        for name, fvalue in (("temperature", _float(g.temperature)), ("top_p", _float(g.top_p))):
            if fvalue is None:
                nulls |= NULL_BIT[name]
            append[name](0.0 if fvalue is None else fvalue)
        money = (
            ("provider_cost", g.provider_cost_usd), ("cost_input", c.input), ("cost_cache_read", c.cache_read),
            ("cost_cache_write", c.cache_write), ("cost_output", c.output), ("cost_reasoning", c.reasoning),
            ("cost_total", c.total),
        )  # fmt: skip
        for name, value in money:
            units = _units(value)
            if units is None:
                nulls |= NULL_BIT[name]
            append[name](0 if units is None else units)
        total_units = _units(c.total)
        append["keep"](1)
        append["nulls"](nulls)
        append["service_name"](s.service_name)
        append["error_type"](s.error_type)
        append["dialect"](s.dialect)
        append["span_type"](g.span_type.value)
        append["operation"](g.operation or "")
        append["provider"](g.provider or "")
        append["request_model"](g.request_model or "")
        append["response_model"](g.response_model or "")
        append["model"](g.response_model or g.request_model or "")
        append["counts_usage"](1 if g.counts_usage else 0)
        append["uncached_input_tokens"](_nat(x.input_uncached))
        append["cache_read_tokens"](_nat(x.cache_read))
        append["cache_write_tokens"](_nat(x.cache_write))
        append["output_text_tokens"](_nat(x.output_text))
        append["reasoning_tokens"](_nat(x.reasoning))
        append["finish_reasons"](orjson.dumps([str(f) for f in g.finish_reasons]).decode() if g.finish_reasons else "")
        append["response_id"](g.response_id or "")
        append["session_id"](g.session_id or "")
        append["user_id"](g.user_id or "")
        append["tool_name"](g.tool_name or "")
        append["agent_name"](g.agent_name or "")
        append["input_messages"](_json(g.input_messages))
        append["output_messages"](_json(g.output_messages))
        append["system_instructions"](_json(g.system_instructions))
        append["tool_definitions"](_json(g.tool_definitions))
        append["documents"](_json(g.documents))
        append["price_status"](c.status)
        append["price_source"](c.source)
        append["price_version"](c.version)
        append["events"](_json(s.events))
        append["links"](_json(s.links))
        append["content_kept"](1 if s.content_kept else 0)
        # "" = the engine renders the map from the wire; "{}" is a real empty map.
        keep_wire = s.attributes_plain and s.content_kept
        append["span_attributes"]("" if keep_wire else orjson.dumps(s.span_attributes).decode())
        feed_rows.append(s)
        feed_costs.append(total_units)
    tail = tail_class()()
    tail.project_id = project_id
    tail.retention_days = retention_days
    tail.version = version
    canon = tail.canon
    for name, values in cols.items():
        getattr(canon, name).extend(values)
    canon.resource_attributes.extend("" if plain else orjson.dumps(text).decode() for text, plain in resources)
    body = otlp + tail.SerializeToString()
    return Frame(varint(len(body)) + body, _feed(feed_rows, feed_costs, project_id))


def _feed(spans: list[CanonicalSpan], cost_units: list[int | None], project_id: str) -> pa.Table:
    gs = [s.genai for s in spans]
    splits = [g.usage.split() for g in gs]
    cost = [None if u is None else Decimal(u).scaleb(-12) for u in cost_units]
    return pa.Table.from_pydict(
        {
            "project_id": [project_id] * len(spans),
            "trace_id": [s.trace_id for s in spans],
            "span_id": [s.span_id for s in spans],
            "parent_span_id": [s.parent_span_id for s in spans],
            "start_time": [s.start_ns for s in spans],
            "duration_ns": [s.duration_ns for s in spans],
            "service_name": [s.service_name for s in spans],
            "provider": [g.provider or "" for g in gs],
            "model": [g.response_model or g.request_model or "" for g in gs],
            "span_type": [g.span_type.value for g in gs],
            "operation": [g.operation or "" for g in gs],
            "counts_usage": [1 if g.counts_usage else 0 for g in gs],
            "status_code": [s.status_code for s in spans],
            "error_type": [s.error_type for s in spans],
            "ttft_ns": [None if g.time_to_first_token_s is None else _nat(round(g.time_to_first_token_s * 1e9)) for g in gs],
            "cost_total": cost,
            "uncached_input_tokens": [_nat(x.input_uncached) for x in splits],
            "cache_read_tokens": [_nat(x.cache_read) for x in splits],
            "cache_write_tokens": [_nat(x.cache_write) for x in splits],
            "output_text_tokens": [_nat(x.output_text) for x in splits],
            "reasoning_tokens": [_nat(x.reasoning) for x in splits],
            "content_kept": [1 if s.content_kept else 0 for s in spans],
        },
        schema=FEED,
    )
