"""Usage and cost over time, latency percentiles, unpriced calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from collector.api.deps import AppDep, FilterDep, QueriesDep
from collector.api.serialize import clean_row
from storage.clickhouse.queries import QueryError

router = APIRouter(tags=["analytics"])


@router.get("/usage")
def usage(
    f: FilterDep,
    q: QueriesDep,
    app: AppDep,
    bucket: Annotated[str, Query(pattern="^(minute|hour|day)$")] = "hour",
    group_by: Annotated[str | None, Query(description="model, provider, service, user, session, span_type, operation, status or attr:<key>")] = None,
) -> dict[str, Any]:
    try:
        if q.rollup_eligible(f, group_by):
            source = "rollup"
            rows = q.usage_from_rollup(f, bucket=bucket, group_by=group_by, pending=app.rollups.pending(f.project_id))
        else:
            source = "spans"
            rows = q.usage(f, bucket=bucket, group_by=group_by)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"bucket": bucket, "group_by": group_by, "source": source, "items": [clean_row(r) for r in rows]}


@router.get("/usage/top")
def usage_top(
    f: FilterDep,
    q: QueriesDep,
    group_by: Annotated[str, Query(description="user, session, model, provider, service, ... or attr:<key>")],
    order_by: Annotated[str, Query(pattern="^(cost_total|requests|input_tokens|output_tokens|errors)$")] = "cost_total",
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    try:
        rows = q.top(f, group_by=group_by, order_by=order_by, limit=limit)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"group_by": group_by, "order_by": order_by, "items": [clean_row(r) for r in rows]}


@router.get("/latency")
def latency(f: FilterDep, q: QueriesDep, group_by: str | None = None) -> dict[str, Any]:
    try:
        rows = q.latency(f, group_by=group_by)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    items = []
    for r in rows:
        d, t = r.pop("duration_ns_q"), r.pop("ttft_ns_q")
        r.update(
            duration_ms={"p50": d[0] / 1e6, "p95": d[1] / 1e6, "p99": d[2] / 1e6},
            ttft_ms=None if not r["ttft_samples"] else {"p50": t[0] / 1e6, "p95": t[1] / 1e6, "p99": t[2] / 1e6},
        )
        items.append(clean_row(r))
    return {"group_by": group_by, "items": items}


@router.get("/costs/provider-comparison")
def provider_comparison(f: FilterDep, q: QueriesDep, group_by: str = "model") -> dict[str, Any]:
    """Our computed cost against the cost the instrumentation reported."""
    try:
        rows = q.provider_cost_comparison(f, group_by=group_by)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"group_by": group_by, "items": [clean_row(r) for r in rows]}


@router.get("/genai-metrics")
def genai_metrics(
    f: FilterDep,
    q: QueriesDep,
    name: Annotated[str | None, Query(description="e.g. gen_ai.client.token.usage")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    """gen_ai.* metric points received over OTLP metrics."""
    rows = q.genai_metrics(f.project_id, f.start_ns, f.end_ns, name=name, limit=limit)
    return {"items": [clean_row(r) for r in rows]}


@router.get("/unpriced")
def unpriced(f: FilterDep, q: QueriesDep) -> dict[str, Any]:
    rows = [clean_row(r) for r in q.unpriced(f)]
    return {"total_calls": sum(r["calls"] for r in rows), "items": rows}


@router.get("/sampling")
def sampling_share(f: FilterDep, q: QueriesDep) -> dict[str, Any]:
    """What share of spans kept their content under the project's ingest
    sampling rules (every span and LLM call is stored and counted either way)."""
    r = clean_row(q.sampling(f))
    r["content_share"] = (r["spans_with_content"] / r["spans"]) if r["spans"] else None
    r["llm_content_share"] = (r["llm_calls_with_content"] / r["llm_calls"]) if r["llm_calls"] else None
    return r
