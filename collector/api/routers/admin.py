"""Projects, API keys and price overrides.

A key acts only on its own project: listing keys or prices never shows
another project's.  Creating a project is allowed to any authenticated
caller (it gets the new project's first key, shown once) — the new project's
data is reachable only with that key.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field

from collector.api.deps import AppDep, ProjectDep
from collector.api.serialize import clean_row
from storage.metadata.repo import InvalidInput

router = APIRouter(tags=["admin"])


def _dc(obj: Any) -> dict[str, Any]:
    d = dataclasses.asdict(obj)
    return clean_row({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()})


class NewProject(BaseModel):
    id: str = Field(pattern="^[a-z0-9][a-z0-9_-]{0,62}$", description="slug")
    name: str | None = None
    retention_days: int = Field(default=30, ge=1, le=36500)


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class NewPrice(BaseModel):
    model_pattern: str = Field(min_length=1, max_length=500, description="regular expression, matched in full")
    provider: str | None = None
    valid_from: datetime | None = None
    input_per_mtok: Decimal | None = Field(default=None, ge=0)
    output_per_mtok: Decimal | None = Field(default=None, ge=0)
    cache_read_per_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_per_mtok: Decimal | None = Field(default=None, ge=0)
    reasoning_per_mtok: Decimal | None = Field(default=None, ge=0)
    gpu_hour_usd: Decimal | None = Field(default=None, ge=0)
    tokens_per_second: Decimal | None = Field(default=None, gt=0)


@router.get("/project")
async def my_project(project: ProjectDep, app: AppDep) -> dict[str, Any]:
    p = await asyncio.to_thread(app.repo.get_project, project)
    if p is None:
        raise HTTPException(404, "project not found")
    return _dc(p)


class Sampling(BaseModel):
    """Ingest sampling: which traces keep their content (see collector/sampling.py)."""

    model_config = {"extra": "forbid"}
    keep_share: float = Field(default=1.0, ge=0.0, le=1.0, description="share of ordinary traces that keep content")
    keep_errors: bool = Field(default=True, description="a trace with an error span keeps its content")
    slow_ms: float | None = Field(default=None, gt=0, description="a trace with a span at least this slow keeps its content")
    keep_pii: bool = Field(default=True, description="a trace whose content holds PII (e-mail, SSN, card, IBAN, IP, phone) keeps it")


class ProjectUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    retention_days: int | None = Field(default=None, ge=1, le=36500, description="applies to spans received from now on")
    sampling: Sampling | None = Field(default=None, description="applies to spans received from now on (within ~10 s)")


@router.patch("/project")
async def update_my_project(body: ProjectUpdate, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    p = await asyncio.to_thread(
        lambda: app.repo.update_project(
            project, name=body.name, retention_days=body.retention_days,
            sampling=None if body.sampling is None else body.sampling.model_dump(),
        )
    )
    return _dc(p)


@router.post("/projects", status_code=201)
async def create_project(body: NewProject, _: ProjectDep, app: AppDep) -> dict[str, Any]:
    try:
        p = await asyncio.to_thread(app.repo.create_project, body.id, body.name, retention_days=body.retention_days)
        info, key = await asyncio.to_thread(app.repo.create_api_key, p.id, "first key")
    except InvalidInput as exc:
        raise HTTPException(409 if "exist" in str(exc) else 422, str(exc)) from exc
    return {"project": _dc(p), "api_key": key, "key": _dc(info)}


@router.get("/keys")
async def list_keys(project: ProjectDep, app: AppDep) -> dict[str, Any]:
    keys = await asyncio.to_thread(app.repo.list_api_keys, project)
    return {"items": [_dc(k) for k in keys]}


@router.post("/keys", status_code=201)
async def create_key(body: NewKey, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    info, key = await asyncio.to_thread(app.repo.create_api_key, project, body.name)
    return {"api_key": key, "key": _dc(info), "note": "the key is shown once; store it now"}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: Annotated[int, Path(ge=1)], project: ProjectDep, app: AppDep) -> dict[str, Any]:
    if not await asyncio.to_thread(app.repo.revoke_api_key, project, key_id):
        raise HTTPException(404, "no such key in this project")
    app.auth.forget()
    return {"revoked": key_id}


@router.get("/prices")
async def list_prices(project: ProjectDep, app: AppDep) -> dict[str, Any]:
    items = await asyncio.to_thread(app.repo.list_price_overrides, project)
    return {"items": [_dc(p) for p in items]}


@router.post("/prices", status_code=201)
async def add_price(body: NewPrice, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    fields = body.model_dump(exclude={"model_pattern"})
    try:
        po = await asyncio.to_thread(lambda: app.repo.add_price_override(project, body.model_pattern, **fields))
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from exc
    app.price_cache.clear()
    return _dc(po)


@router.delete("/prices/{price_id}")
async def delete_price(price_id: Annotated[int, Path(ge=1)], project: ProjectDep, app: AppDep) -> dict[str, Any]:
    if not await asyncio.to_thread(app.repo.delete_price_override, project, price_id):
        raise HTTPException(404, "no such price override in this project")
    app.price_cache.clear()
    return {"deleted": price_id}
