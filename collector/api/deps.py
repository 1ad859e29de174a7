"""Request-scoped dependencies: the caller's project (from its API key), the
query layer, and parsed filters.  Typed with Annotated so routers stay thin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from collector.auth import key_from_headers
from collector.server import App
from storage.clickhouse.queries import Queries, SpanFilter

DAY_NS = 86_400 * 10**9


def get_app(request: Request) -> App:
    return request.app.state.llmobs


AppDep = Annotated[App, Depends(get_app)]


async def current_project(request: Request, app: AppDep) -> str:
    project = await app.auth.project_for(key_from_headers(request.headers))
    if project is None:
        raise HTTPException(401, "missing or invalid API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
    return project


ProjectDep = Annotated[str, Depends(current_project)]


def get_queries(app: AppDep) -> Iterator[Queries]:
    with app.readers.queries() as q:
        yield q


QueriesDep = Annotated[Queries, Depends(get_queries)]


def parse_time(value: str | None, name: str) -> int | None:
    """Accept unix seconds (int or float), unix nanoseconds, or ISO-8601."""
    if value is None or value == "":
        return None
    try:
        num = float(value)
    except ValueError:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise HTTPException(422, f"{name}: expected unix seconds or ISO-8601 time, got {value!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000
    if num > 1e15:  # already nanoseconds
        return int(num)
    return int(num * 1e9)


def span_filter(
    project: ProjectDep,
    start: Annotated[str | None, Query(description="unix seconds or ISO-8601; default: 24 h ago")] = None,
    end: Annotated[str | None, Query(description="unix seconds or ISO-8601; default: now")] = None,
    service: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    span_type: str | None = None,
    status: Annotated[str | None, Query(pattern="^(ok|error)$")] = None,
    user_id: str | None = None,
    session_id: str | None = None,
    trace_id: Annotated[str | None, Query(pattern="^[0-9a-f]{32}$")] = None,
    attr: Annotated[list[str] | None, Query(description="attribute filter key=value, repeatable")] = None,
    q: Annotated[str | None, Query(description="free text searched in messages", max_length=500)] = None,
) -> SpanFilter:
    end_ns = parse_time(end, "end") or time.time_ns() + 60 * 10**9
    start_ns = parse_time(start, "start") or end_ns - DAY_NS
    if start_ns >= end_ns:
        raise HTTPException(422, "start must be before end")
    attributes: dict[str, str] = {}
    for item in attr or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HTTPException(422, f"attr filter must look like key=value, got {item!r}")
        attributes[key] = value
    return SpanFilter(
        project_id=project, start_ns=start_ns, end_ns=end_ns, service=service, model=model, provider=provider,
        span_type=span_type, status=status, user_id=user_id, session_id=session_id, trace_id=trace_id,
        attributes=attributes, text=q,
    )  # fmt: skip


FilterDep = Annotated[SpanFilter, Depends(span_filter)]
