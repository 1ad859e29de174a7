"""Spans and traces: search, and one trace as a tree of canonical records."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query

from collector.api.deps import AppDep, FilterDep, ProjectDep, QueriesDep
from collector.api.serialize import clean_row
from collector.normalize.log_events import fill_span_messages
from collector.server import App

router = APIRouter(tags=["traces"])

_JSON_FIELDS = ("input_messages", "output_messages", "system_instructions", "tool_definitions", "documents", "events", "links")


@router.get("/spans")
def search_spans(
    f: FilterDep, q: QueriesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50, offset: Annotated[int, Query(ge=0)] = 0
) -> dict[str, Any]:
    rows = q.search_spans(f, limit=limit, offset=offset)
    return {"items": [clean_row(r) for r in rows], "limit": limit, "offset": offset}


@router.get("/traces")
def search_traces(
    f: FilterDep, q: QueriesDep, limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0
) -> dict[str, Any]:
    rows = q.search_traces(f, limit=limit, offset=offset)
    return {"items": [clean_row(r) for r in rows], "limit": limit, "offset": offset}


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    out = clean_row(row)
    for key in _JSON_FIELDS:
        raw = out.get(key)
        out[key] = orjson.loads(raw) if raw else []
    return out


def _read_trace(app: App, project: str, trace_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Spans and their log events, read side by side on two reader clients
    once trace_index has given the time range (the engine releases the GIL)."""
    with app.readers.pair() as (q_spans, q_events):
        bounds = q_spans.trace_bounds(project, trace_id)
        if bounds is None:
            return [], []
        with ThreadPoolExecutor(max_workers=1) as ex:
            events = ex.submit(q_events.trace_events, project, trace_id, bounds[0], bounds[1])
            rows = q_spans.trace(project, trace_id, bounds)
            return rows, events.result()


@router.get("/traces/{trace_id}")
def get_trace(
    project: ProjectDep, app: AppDep, trace_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$")]
) -> dict[str, Any]:
    rows, events = _read_trace(app, project, trace_id)
    if not rows:
        raise HTTPException(404, f"trace {trace_id} not found in this project")
    spans = [_detail(r) for r in rows]
    by_span: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        by_span.setdefault(ev["span_id"], []).append(clean_row(ev))
    for s in spans:
        fill_span_messages(s, by_span.get(s["span_id"], []))
    nodes = {s["span_id"]: {**s, "genai_events": by_span.get(s["span_id"], []), "children": []} for s in spans}
    roots: list[dict[str, Any]] = []
    for node in nodes.values():
        parent = nodes.get(node["parent_span_id"])
        (parent["children"] if parent else roots).append(node)
    return {"trace_id": trace_id, "span_count": len(spans), "roots": roots}
