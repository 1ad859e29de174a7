"""Long jobs run inside the server; the API submits them and reports progress."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from collector.api.deps import AppDep, ProjectDep, parse_time
from collector.api.serialize import clean_row
from collector.jobs import reprice_job

router = APIRouter(tags=["jobs"])


class RepriceRequest(BaseModel):
    since: str
    until: str | None = None


def _job(job: Any) -> dict[str, Any]:
    d = dataclasses.asdict(job)
    return clean_row({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()})


@router.post("/jobs/reprice", status_code=202)
async def submit_reprice(body: RepriceRequest, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    start_ns = parse_time(body.since, "since")
    end_ns = parse_time(body.until, "until") or time.time_ns() + 60 * 10**9
    if start_ns is None or start_ns >= end_ns:
        raise HTTPException(422, "since must be a time before until")
    job = await asyncio.to_thread(
        app.repo.create_job, project, "reprice", {"start_ns": start_ns, "end_ns": end_ns}
    )
    app.price_cache.clear()
    app.spawn(reprice_job(app.target, app.repo, app.pricer, app.rollups, job.id, project, start_ns, end_ns))
    return _job(job)


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    job = await asyncio.to_thread(app.repo.get_job, job_id)
    if job is None or job.project_id != project:
        raise HTTPException(404, "no such job in this project")
    return _job(job)


@router.get("/jobs")
async def list_jobs(project: ProjectDep, app: AppDep) -> dict[str, Any]:
    jobs = await asyncio.to_thread(app.repo.list_jobs, project)
    return {"items": [_job(j) for j in jobs]}
