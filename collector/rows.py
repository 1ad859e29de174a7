"""Canonical spans + their costs -> the column batch the spans table stores."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson

from collector.normalize.canonical import CanonicalSpan
from collector.pricing import CostBreakdown
import pyarrow as pa

from storage.clickhouse.schema import SPANS, map_array, to_arrow

_U64 = (1 << 64) - 1
_I64_MAX = (1 << 63) - 1
_SCALE = Decimal("0.000000000001")
_DEC_MAX = Decimal("999999.999999999999")



def _nat(v: int | None) -> int | None:
    if v is None:
        return None
    if 0 <= v <= _U64:
        return v
    return min(max(int(v), 0), _U64)


def _json(v: Any) -> str:
    if not v:
        return ""
    return orjson.dumps(v, default=str).decode()


def _money(v: Decimal | None) -> Decimal | None:
    if v is None:
        return None
    if v.is_nan() or abs(v) > _DEC_MAX:
        return None
    if v.as_tuple().exponent == -12:
        return v
    return v.quantize(_SCALE)


def _small_float(v: float | None) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _resource_maps(spans: list[CanonicalSpan]) -> pa.Array:
    """The resource map column, built once per resource and repeated with
    `take`: spans of one resource share one dict (collector/normalize/spans.py),
    and rebuilding its ~8 entries for every span was a third of the map work."""
    index: dict[int, int] = {}
    unique: list[dict[str, str]] = []
    positions: list[int] = []
    for s in spans:
        i = index.get(id(s.resource_attributes))
        if i is None:
            i = index[id(s.resource_attributes)] = len(unique)
            unique.append(s.resource_attributes)
        positions.append(i)
    return map_array(unique).take(pa.array(positions, pa.int32()))


def spans_to_batch(spans: list[CanonicalSpan], costs: list[CostBreakdown], retention_days: int) -> pa.Table:
    """Column by column (one comprehension per column beats appending a
    67-field tuple per span by about 2x)."""
    n = len(spans)
    if len(costs) != n:
        raise ValueError("one cost per span")
    version = time.time_ns()
    gs = [s.genai for s in spans]
    us = [g.usage for g in gs]
    splits = [u.split() for u in us]
    nat = _nat
    cols: dict[str, list[Any]] = {
        "project_id": [s.project_id for s in spans],
        "start_time": [s.start_ns for s in spans],
        "end_time": [s.end_ns for s in spans],
        "duration_ns": [s.duration_ns for s in spans],
        "trace_id": [s.trace_id for s in spans],
        "span_id": [s.span_id for s in spans],
        "parent_span_id": [s.parent_span_id for s in spans],
        "name": [s.name for s in spans],
        "kind": [s.kind for s in spans],
        "status_code": [s.status_code for s in spans],
        "status_message": [s.status_message for s in spans],
        "error_type": [s.error_type for s in spans],
        "service_name": [s.service_name for s in spans],
        "scope_name": [s.scope_name for s in spans],
        "scope_version": [s.scope_version for s in spans],
        "dialect": [s.dialect for s in spans],
        "span_type": [g.span_type.value for g in gs],
        "operation": [g.operation or "" for g in gs],
        "provider": [g.provider or "" for g in gs],
        "request_model": [g.request_model or "" for g in gs],
        "response_model": [g.response_model or "" for g in gs],
        "model": [g.response_model or g.request_model or "" for g in gs],
        "counts_usage": [1 if g.counts_usage else 0 for g in gs],
        "sent_input_tokens": [nat(u.input_tokens) for u in us],
        "sent_output_tokens": [nat(u.output_tokens) for u in us],
        "sent_cache_read_tokens": [nat(u.cache_read_tokens) for u in us],
        "sent_cache_write_tokens": [nat(u.cache_write_tokens) for u in us],
        "sent_reasoning_tokens": [nat(u.reasoning_tokens) for u in us],
        "sent_total_tokens": [nat(u.total_tokens) for u in us],
        "uncached_input_tokens": [nat(x.input_uncached) for x in splits],
        "cache_read_tokens": [nat(x.cache_read) for x in splits],
        "cache_write_tokens": [nat(x.cache_write) for x in splits],
        "output_text_tokens": [nat(x.output_text) for x in splits],
        "reasoning_tokens": [nat(x.reasoning) for x in splits],
        "ttft_ns": [None if g.time_to_first_token_s is None else nat(round(g.time_to_first_token_s * 1e9)) for g in gs],
        "temperature": [_small_float(g.temperature) for g in gs],
        "max_tokens": [nat(g.max_tokens) for g in gs],
        "top_p": [_small_float(g.top_p) for g in gs],
        "seed": [None if g.seed is None else max(min(int(g.seed), _I64_MAX), -_I64_MAX - 1) for g in gs],
        "stream": [None if g.stream is None else int(bool(g.stream)) for g in gs],
        "finish_reasons": [[str(f) for f in g.finish_reasons] for g in gs],
        "response_id": [g.response_id or "" for g in gs],
        "session_id": [g.session_id or "" for g in gs],
        "user_id": [g.user_id or "" for g in gs],
        "tool_name": [g.tool_name or "" for g in gs],
        "agent_name": [g.agent_name or "" for g in gs],
        "input_messages": [_json(g.input_messages) for g in gs],
        "output_messages": [_json(g.output_messages) for g in gs],
        "system_instructions": [_json(g.system_instructions) for g in gs],
        "tool_definitions": [_json(g.tool_definitions) for g in gs],
        "documents": [_json(g.documents) for g in gs],
        "provider_cost": [_money(g.provider_cost_usd) for g in gs],
        "cost_input": [_money(c.input) for c in costs],
        "cost_cache_read": [_money(c.cache_read) for c in costs],
        "cost_cache_write": [_money(c.cache_write) for c in costs],
        "cost_output": [_money(c.output) for c in costs],
        "cost_reasoning": [_money(c.reasoning) for c in costs],
        "cost_total": [_money(c.total) for c in costs],
        "price_status": [c.status for c in costs],
        "price_source": [c.source for c in costs],
        "price_version": [c.version for c in costs],
        "resource_attributes": _resource_maps(spans),
        "span_attributes": [s.span_attributes for s in spans],
        "events": [_json(s.events) for s in spans],
        "links": [_json(s.links) for s in spans],
        "content_kept": [1 if s.content_kept else 0 for s in spans],
        "retention_days": [retention_days] * n,
        "ingested_at": [version] * n,
        "version": [version] * n,
    }
    return to_arrow(SPANS, cols)
