"""Canonical spans + their costs -> the column batch the spans table stores."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson

from collector.normalize.canonical import CanonicalSpan
from collector.pricing import CostBreakdown
import pyarrow as pa

from storage.clickhouse.schema import SPAN_COLUMNS, SPANS, to_arrow



_U64 = (1 << 64) - 1
_DEC_MAX = Decimal("999999.999999999999")



def _nat(v: int | None) -> int | None:
    if v is None:
        return None
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
    return v.quantize(Decimal("0.000000000001"))


def _small_float(v: float | None) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def spans_to_batch(
    spans: list[CanonicalSpan], costs: list[CostBreakdown], retention_days: int
) -> pa.Table:
    cols: dict[str, list[Any]] = {name: [] for name in SPAN_COLUMNS}
    version = now = time.time_ns()
    for span, cost in zip(spans, costs, strict=True):
        g = span.genai
        u = g.usage
        split = u.split()
        model = g.response_model or g.request_model or ""
        values = (
            span.project_id, span.start_ns, span.end_ns, span.duration_ns, span.trace_id, span.span_id,
            span.parent_span_id, span.name, span.kind, span.status_code, span.status_message,
            span.error_type, span.service_name, span.scope_name, span.scope_version, span.dialect,
            g.span_type.value, g.operation or "", g.provider or "", g.request_model or "",
            g.response_model or "", model, 1 if g.counts_usage else 0,
            _nat(u.input_tokens), _nat(u.output_tokens), _nat(u.cache_read_tokens),
            _nat(u.cache_write_tokens), _nat(u.reasoning_tokens), _nat(u.total_tokens),
            _nat(split.input_uncached), _nat(split.cache_read), _nat(split.cache_write),
            _nat(split.output_text), _nat(split.reasoning),
            None if g.time_to_first_token_s is None else _nat(round(g.time_to_first_token_s * 1e9)),
            _small_float(g.temperature), _nat(g.max_tokens), _small_float(g.top_p),
            None if g.seed is None else max(min(int(g.seed), (1 << 63) - 1), -(1 << 63)),
            None if g.stream is None else int(bool(g.stream)),
            [str(f) for f in g.finish_reasons], g.response_id or "", g.session_id or "", g.user_id or "",
            g.tool_name or "", g.agent_name or "",
            _json(g.input_messages), _json(g.output_messages), _json(g.system_instructions),
            _json(g.tool_definitions), _json(g.documents),
            _money(g.provider_cost_usd), _money(cost.input), _money(cost.cache_read),
            _money(cost.cache_write), _money(cost.output), _money(cost.reasoning), _money(cost.total),
            cost.status, cost.source, cost.version,
            span.resource_attributes, span.span_attributes, _json(span.events), _json(span.links),
            retention_days, now, version,
        )  # fmt: skip
        for name, value in zip(SPAN_COLUMNS, values, strict=True):
            cols[name].append(value)
    return to_arrow(SPANS, cols)
