"""The HTTP API (FastAPI, OpenAPI docs at /docs): one router per resource under
/api/v1, plus /metrics, /healthz and /readyz at the root."""

from __future__ import annotations

import asyncio

import logging

from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from collector.api.routers import admin, analytics, jobs, traces
from collector.api.routers import alerts, evaluations
from collector.api.routers import insights
from collector.server import App
from collector.api.routers import replay as replay_router

log = logging.getLogger(__name__)


def build_api(app_state: App) -> FastAPI:
    api = FastAPI(
        title="llmobs",
        version="0.1.0",
        description="Query API of llmobs: spans, traces, usage and cost, prices, projects and keys.",
    )
    api.state.llmobs = app_state
    v1 = APIRouter(prefix="/api/v1")
    for r in (traces.router, analytics.router, admin.router, jobs.router):
        v1.include_router(r)
    v1.include_router(evaluations.router)
    v1.include_router(alerts.router)
    v1.include_router(insights.router)
    v1.include_router(replay_router.router)
    replay_router.install(api, app_state)
    api.include_router(v1)

    @api.exception_handler(ClickHouseError)
    async def storage_error(_request: Request, exc: ClickHouseError) -> JSONResponse:
        # A clear message instead of a stack trace; 503 so clients retry.
        log.exception("storage error while serving a request")
        return JSONResponse({"detail": f"storage error: {type(exc).__name__}: {str(exc)[:300]}"}, status_code=503)

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        def probe() -> None:
            with app_state.readers.queries() as q:
                q.client.command("SELECT 1")

        try:
            await asyncio.wait_for(asyncio.to_thread(probe), timeout=5)
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    @api.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(app_state.metrics.render(), media_type="text/plain; version=0.0.4")

    return api
