"""What a dashboard page needs in one call: a range's totals beside the
previous period, per-user / per-session / per-model breakdowns with cost and
latency together, and the saving from cached input tokens."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from collector.api.deps import FilterDep, ProjectDep, QueriesDep, parse_time
from collector.api.serialize import clean_row
from storage.clickhouse.insights import BREAKDOWN_ORDER, SERIES_ORDER, TRACE_ORDER, Insights
from storage.clickhouse.queries import BUCKETS, QueryError

router = APIRouter(tags=["insights"])

_ORDER_PATTERN = "^(" + "|".join(BREAKDOWN_ORDER) + ")$"


def _percentiles(row: dict[str, Any]) -> dict[str, Any]:
    d, t = row.pop("duration_ns_q"), row.pop("ttft_ns_q")
    row["latency_ms"] = {"p50": d[0] / 1e6, "p95": d[1] / 1e6, "p99": d[2] / 1e6} if row["requests"] else None
    row["ttft_ms"] = {"p50": t[0] / 1e6, "p95": t[1] / 1e6, "p99": t[2] / 1e6} if row["ttft_samples"] else None
    return clean_row(row)


@router.get("/summary")
def summary(f: FilterDep, q: QueriesDep) -> dict[str, Any]:
    """Requests, tokens, cost, error rate, users, sessions, traces, latency
    and TTFT p50/p95/p99 for the range, and the same for the range of equal
    length just before it (the trend baseline)."""
    try:
        periods = Insights(q.client, q.tables).summary(f)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    length = f.end_ns - f.start_ns
    return {
        "range": {"start_ns": f.start_ns, "end_ns": f.end_ns},
        "previous_range": {"start_ns": f.start_ns - length, "end_ns": f.start_ns},
        "current": _percentiles(periods["current"]),
        "previous": _percentiles(periods["previous"]),
    }


@router.get("/breakdown")
def breakdown(
    f: FilterDep,
    q: QueriesDep,
    group_by: Annotated[str, Query(description="user, session, model, provider, service, ... or attr:<key>")],
    order_by: Annotated[str, Query(pattern=_ORDER_PATTERN)] = "cost_total",
    limit: Annotated[int, Query(ge=1, le=5000)] = 50,
) -> dict[str, Any]:
    """Per group: requests, errors, tokens, cost, cost per request, latency
    and TTFT percentiles, traces, sessions, first and last call."""
    try:
        rows = Insights(q.client, q.tables).breakdown(f, group_by=group_by, order_by=order_by, limit=limit)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"group_by": group_by, "order_by": order_by, "items": [_percentiles(r) for r in rows]}


@router.get("/usage/top-series")
def usage_top_series(
    f: FilterDep,
    q: QueriesDep,
    group_by: Annotated[str, Query(description="user, session, model, ... or attr:<key>")],
    bucket: Annotated[str, Query(pattern="^(minute|hour|day)$")] = "hour",
    order_by: Annotated[str, Query(pattern="^(" + "|".join(SERIES_ORDER) + ")$")] = "cost_total",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Usage over time for the `limit` largest groups over the range (by
    cost, unless `order_by` says otherwise) plus one "(other)" series
    (`other: true`) holding every other group, so the buckets add up to
    /usage's totals while the answer stays small for users or sessions."""
    try:
        rows = Insights(q.client, q.tables).top_series(
            f, bucket_s=BUCKETS[bucket], group_by=group_by, order_by=order_by, limit=limit
        )
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    items = [clean_row({**r, "other": bool(r["other"])}) for r in rows]
    return {"bucket": bucket, "group_by": group_by, "order_by": order_by, "limit": limit, "items": items}


@router.get("/ranked-traces")
def ranked_traces(
    f: FilterDep,
    q: QueriesDep,
    order_by: Annotated[str, Query(pattern="^(" + "|".join(TRACE_ORDER) + ")$")] = "duration",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Like /traces, but largest first by duration, cost, tokens or errors."""
    try:
        rows = Insights(q.client, q.tables).ranked_traces(f, order_by=order_by, limit=limit, offset=offset)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"order_by": order_by, "items": [clean_row(r) for r in rows], "limit": limit, "offset": offset}


@router.get("/costs/cache-savings")
def cache_savings(f: FilterDep, q: QueriesDep, group_by: str = "model") -> dict[str, Any]:
    """What cached input tokens saved: each group's cached tokens priced at
    that group's own uncached input rate (its input cost / uncached input
    tokens over the range), minus what the cached tokens actually cost.
    Groups with no uncached input to take a rate from report no saving."""
    try:
        rows = Insights(q.client, q.tables).cache_tokens(f, group_by=group_by)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    items = []
    total = Decimal(0)
    for r in rows:
        cached_cost = r["cost_cache_read"] or Decimal(0)
        saving = None
        if r["uncached_input_tokens"] and r["cost_input"] is not None:
            rate = Decimal(r["cost_input"]) / Decimal(r["uncached_input_tokens"])
            saving = (rate * r["cache_read_tokens"] - cached_cost).quantize(Decimal("1e-12"))
            total += saving
        items.append(clean_row({**r, "saving": saving}))
    return {"group_by": group_by, "total_saving": clean_row({"v": total})["v"], "items": items}


@router.get("/evaluations/failing")
def failing_spans(
    project: ProjectDep,
    q: QueriesDep,
    evaluator: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """The newest failing span scores (a failing label, or findings such as
    PII), each with the trace and span to open: the Quality page's list."""
    end_ns = parse_time(end, "end") or time.time_ns() + 60 * 10**9
    start_ns = parse_time(start, "start") or end_ns - 86_400 * 10**9
    if start_ns >= end_ns:
        raise HTTPException(422, "start must be before end")
    rows = Insights(q.client, q.tables).failing_spans(project, start_ns, end_ns, evaluator=evaluator, limit=limit)
    return {"items": [clean_row(r) for r in rows]}
