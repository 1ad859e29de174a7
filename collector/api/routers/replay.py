"""Replay: saved variants, replay runs (server-side jobs), their results and
reports, and shadow traffic loops."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.api.deps import DAY_NS, AppDep, ProjectDep, parse_time
from collector.api.serialize import clean_row
from collector.replay_jobs import ShadowLoops, replay_job, selection_from
from collector.server import App
from replay.config import ReplaySpec, ReportOptions, RunOptions, Thresholds, Variant
from replay.shadow import ShadowConfig
from storage.clickhouse.client import connect
from storage.clickhouse.replay_queries import ReplayStore, SelectionError
from storage.metadata.db import make_engine
from storage.metadata.replay_repo import ReplayRepo
from storage.metadata.validate import InvalidInput, NotFound

router = APIRouter(tags=["replay"])


@dataclasses.dataclass
class ReplayState:
    repo: ReplayRepo
    shadows: ShadowLoops


def install(api: FastAPI, app_state: App) -> None:
    """Per-app replay state (metadata access on the server's DB, the shadow
    loops) and the task that restarts the active shadow loops."""
    engine = make_engine(app_state.settings.effective_database_url)
    repo = ReplayRepo(engine)
    api.state.replay = state = ReplayState(repo, ShadowLoops(repo))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # built outside a server (no loop): nothing runs in the background
    app_state.spawn(state.shadows.keep(app_state, repo))


def _state(request: Request) -> ReplayState:
    return request.app.state.replay


class SelectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str | None = Field(default=None, description="unix seconds or ISO-8601; default 24 h before end")
    end: str | None = Field(default=None, description="default: now (fixed at submission, so a resume selects the same)")
    service: str | None = None
    model: str | None = None
    provider: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    status: str | None = Field(default=None, pattern="^(ok|error)$")
    attributes: dict[str, str] = Field(default_factory=dict)
    text: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=100, ge=1, le=100_000)
    stratify_by: str | None = None
    seed: int = 0

    def resolve(self) -> dict[str, Any]:
        end_ns = parse_time(self.end, "end") or time.time_ns()
        start_ns = parse_time(self.start, "start") or end_ns - DAY_NS
        if start_ns >= end_ns:
            raise HTTPException(422, "selection: start must be before end")
        f = {k: getattr(self, k) for k in ("service", "model", "provider", "user_id", "session_id", "status", "text")}
        return {
            "filter": {"start_ns": start_ns, "end_ns": end_ns, "attributes": self.attributes, **f},
            "limit": self.limit, "stratify_by": self.stratify_by, "seed": self.seed,
        }  # fmt: skip


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selection: SelectionBody = Field(default_factory=SelectionBody)
    variants: list[Variant] = Field(default_factory=list)
    variant_names: list[str] = Field(default_factory=list, description="saved variants (PUT /replay/variants/{name})")
    baseline: str | None = None
    options: RunOptions = Field(default_factory=RunOptions)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    report: ReportOptions = Field(default_factory=ReportOptions)


class ShadowBody(RunBody):
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)


def _job(job: Any) -> dict[str, Any]:
    d = dataclasses.asdict(job)
    return clean_row({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()})


def _run(run: Any) -> dict[str, Any]:
    return _job(run)


async def _spec(body: RunBody, project: str, state: ReplayState) -> ReplaySpec:
    saved = {v.name: v.config for v in await asyncio.to_thread(state.repo.list_variants, project)}
    missing = [n for n in body.variant_names if n not in saved]
    if missing:
        raise HTTPException(404, f"no saved variant named {', '.join(missing)}")
    try:
        variants = [Variant.model_validate(saved[n]) for n in body.variant_names] + body.variants
        return ReplaySpec(variants=variants, baseline=body.baseline, options=body.options, thresholds=body.thresholds,
                          report=body.report)  # fmt: skip
    except ValidationError as exc:
        raise HTTPException(422, f"invalid replay spec: {exc.errors(include_url=False)}") from None


def _selection(body: RunBody, project: str) -> dict[str, Any]:
    params = body.selection.resolve()
    try:
        selection_from(project, params).stratum_expr()
    except SelectionError as exc:
        raise HTTPException(422, str(exc)) from None
    return params


# ---- saved variants ----------------------------------------------------------------------


@router.put("/replay/variants/{name}")
async def save_variant(name: str, body: Variant, project: ProjectDep, request: Request) -> dict[str, Any]:
    if body.name != name:
        raise HTTPException(422, f"the body names variant {body.name!r}, the path {name!r}")
    try:
        saved = await asyncio.to_thread(_state(request).repo.save_variant, project, name, body.model_dump())
    except (InvalidInput, NotFound) as exc:
        raise HTTPException(422, str(exc)) from None
    return {"name": saved.name, "config": saved.config}


@router.get("/replay/variants")
async def list_variants(project: ProjectDep, request: Request) -> dict[str, Any]:
    items = await asyncio.to_thread(_state(request).repo.list_variants, project)
    return {"items": [{"name": v.name, "config": v.config} for v in items]}


@router.delete("/replay/variants/{name}")
async def delete_variant(name: str, project: ProjectDep, request: Request) -> dict[str, Any]:
    if not await asyncio.to_thread(_state(request).repo.delete_variant, project, name):
        raise HTTPException(404, f"no saved variant named {name!r}")
    return {"deleted": name}


# ---- runs --------------------------------------------------------------------------------


@router.post("/replay/runs", status_code=202)
async def submit_run(body: RunBody, project: ProjectDep, app: AppDep, request: Request) -> dict[str, Any]:
    """Select captured LLM calls and replay them against the variants, as a job."""
    state = _state(request)
    spec = await _spec(body, project, state)
    params = _selection(body, project)
    run = await asyncio.to_thread(state.repo.create_run, project, "replay", params, spec.model_dump(), {})
    return await _start(run.id, project, app, state)


async def _start(run_id: str, project: str, app: App, state: ReplayState) -> dict[str, Any]:
    job = await asyncio.to_thread(app.repo.create_job, project, "replay", {"run_id": run_id})
    await asyncio.to_thread(state.repo.attach_job, run_id, job.id)
    app.spawn(replay_job(app, state.repo, job.id, project, run_id))
    return {"run_id": run_id, "job": _job(job)}


@router.post("/replay/runs/{run_id}/resume", status_code=202)
async def resume_run(run_id: str, project: ProjectDep, app: AppDep, request: Request) -> dict[str, Any]:
    """Run again, skipping every request that already succeeded."""
    state = _state(request)
    run = await asyncio.to_thread(state.repo.get_run, project, run_id)
    if run is None or run.kind != "replay":
        raise HTTPException(404, "no such replay run in this project")
    if run.job_id:
        job = await asyncio.to_thread(app.repo.get_job, run.job_id)
        if job is not None and job.status in ("queued", "running"):
            raise HTTPException(409, f"run {run_id} is still running (job {job.id})")
    return await _start(run_id, project, app, state)


@router.get("/replay/runs")
async def list_runs(project: ProjectDep, request: Request, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    runs = await asyncio.to_thread(_state(request).repo.list_runs, project, limit)
    return {"items": [_run(r) for r in runs]}


async def _get_run(run_id: str, project: str, request: Request) -> Any:
    run = await asyncio.to_thread(_state(request).repo.get_run, project, run_id)
    if run is None:
        raise HTTPException(404, "no such replay run in this project")
    return run


def _store_call(app: App, fn_name: str, *args: Any) -> Any:
    client = connect(app.target)
    try:
        return getattr(ReplayStore.for_cluster(client, app.target.cluster), fn_name)(*args)
    finally:
        client.close()


@router.get("/replay/runs/{run_id}")
async def get_run(run_id: str, project: ProjectDep, app: AppDep, request: Request) -> dict[str, Any]:
    run = await _get_run(run_id, project, request)
    job = await asyncio.to_thread(app.repo.get_job, run.job_id) if run.job_id else None
    return {**_run(run), "job": _job(job) if job else None}


@router.get("/replay/runs/{run_id}/report")
async def get_report(run_id: str, project: ProjectDep, app: AppDep, request: Request) -> dict[str, Any]:
    """The latest stored report of a run (every window's, for a shadow run: /reports)."""
    await _get_run(run_id, project, request)
    reports = await asyncio.to_thread(_store_call, app, "reports", project, run_id)
    if not reports:
        raise HTTPException(404, "this run has no report yet")
    return reports[-1]["report"]


@router.get("/replay/runs/{run_id}/reports")
async def get_reports(run_id: str, project: ProjectDep, app: AppDep, request: Request) -> dict[str, Any]:
    await _get_run(run_id, project, request)
    reports = await asyncio.to_thread(_store_call, app, "reports", project, run_id)
    return {"items": [r["report"] for r in reports]}


@router.get("/replay/runs/{run_id}/results")
async def get_results(run_id: str, project: ProjectDep, app: AppDep, request: Request,
                      variant: str | None = None, limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:  # fmt: skip
    await _get_run(run_id, project, request)
    rows = await asyncio.to_thread(_store_call, app, "results", project, run_id)
    rows = [r for r in rows if variant is None or r["variant"] == variant][:limit]
    return {"items": [clean_row({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()})
                      for r in rows]}  # fmt: skip


@router.get("/replay/runs/{run_id}/engine-metrics")
async def get_engine_metrics(run_id: str, project: ProjectDep, app: AppDep, request: Request) -> dict[str, Any]:
    await _get_run(run_id, project, request)
    rows = await asyncio.to_thread(_store_call, app, "engine_metrics", project, run_id)
    return {"items": [clean_row({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()})
                      for r in rows]}  # fmt: skip


# ---- shadow traffic ----------------------------------------------------------------------


async def _check_hooks(app: App, project: str, hook_ids: list[int]) -> None:
    alerts = getattr(app.worker, "alerts", None)
    for hook_id in hook_ids:
        if alerts is None or await asyncio.to_thread(alerts.get_hook, project, hook_id) is None:
            raise HTTPException(422, f"shadow.alert_hook_ids: no hook {hook_id} in this project (POST /hooks first)")


@router.post("/replay/shadow", status_code=201)
async def start_shadow(body: ShadowBody, project: ProjectDep, app: AppDep, request: Request) -> dict[str, Any]:
    """Replay newly ingested calls against the variants in the background;
    the loop survives server restarts until it is stopped."""
    state = _state(request)
    spec = await _spec(body, project, state)
    params = _selection(body, project)
    await _check_hooks(app, project, body.shadow.alert_hook_ids)
    params["shadow"] = body.shadow.model_dump()
    run = await asyncio.to_thread(state.repo.create_run, project, "shadow", params, spec.model_dump(), {})
    await state.shadows.start(app, project, run.id, spec, params)
    return {"run_id": run.id, "shadow": await state.shadows.status(project, run.id)}


@router.get("/replay/shadow/{run_id}")
async def shadow_status(run_id: str, project: ProjectDep, request: Request) -> dict[str, Any]:
    """Counters, last window verdict and the rolling (alert) verdict; live
    when the loop runs in this server, as last saved otherwise."""
    await _get_run(run_id, project, request)
    status = await _state(request).shadows.status(project, run_id)
    if status is None:
        raise HTTPException(404, "this replay run has no shadow loop")
    return {"run_id": run_id, "shadow": status}


@router.delete("/replay/shadow/{run_id}")
async def stop_shadow(run_id: str, project: ProjectDep, request: Request) -> dict[str, Any]:
    """Stop the loop for good; when it runs here it closes its last window
    report first."""
    await _get_run(run_id, project, request)
    state = _state(request)
    if not await state.shadows.stop(project, run_id):
        raise HTTPException(404, "this replay run has no active shadow loop")
    return {"run_id": run_id, "stopped": True, "shadow": await state.shadows.status(project, run_id)}
