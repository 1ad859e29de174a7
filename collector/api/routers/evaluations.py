"""Evaluators: per-project configs (what runs, on which spans, how often),
their run history, backfills, and the scores they produced."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from collector.api.deps import DAY_NS, AppDep, ProjectDep, QueriesDep, parse_time
from collector.api.serialize import clean_row
from evaluators import registry
from evaluators.worker.service import backfill
from storage.clickhouse.evaluation_queries import EvaluationQueries
from storage.clickhouse.queries import BUCKETS
from storage.metadata.validate import Conflict, InvalidInput, NotFound

router = APIRouter(tags=["evaluations"])
T = TypeVar("T")


class ConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evaluator: str = Field(description="registered scorer: heuristics, pii, grounding, faithfulness_ragas, ...")
    name: str | None = Field(default=None, description="unique in the project; default: the evaluator's name")
    schedule: str = Field(default="1m", description="interval ('30s', '5m', '1h') or 5-field cron (UTC)")
    sampling_rate: float = Field(default=1.0, description="share of spans scored, chosen by a hash of the span id")
    filters: dict[str, Any] = Field(default_factory=dict, description="service, model, span_type, attributes{}")
    params: dict[str, Any] = Field(default_factory=dict, description="passed to the scorer's build(params)")
    enabled: bool = True


class ConfigPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evaluator: str | None = None
    schedule: str | None = None
    sampling_rate: float | None = None
    filters: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    enabled: bool | None = None


class BackfillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evaluator: str = Field(description="config name, or an evaluator with exactly one config in the project")
    since: str
    until: str | None = None


def _plain(obj: Any) -> dict[str, Any]:
    d = dataclasses.asdict(obj)
    return clean_row({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()})


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        r = clean_row({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()})
        for k, v in r.items():
            if isinstance(v, float) and not math.isfinite(v):
                r[k] = None
        out.append(r)
    return out


async def _configs_changed(app: Any) -> None:
    """The streaming scorer starts (or stops) scoring a config before the
    API answers, so spans sent right after a config is created are streamed."""
    stream = getattr(app.worker, "stream", None)
    if stream is not None:
        await asyncio.to_thread(stream.refresh_configs)


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Repository call on a thread; its input errors become 4xx."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None


def _check_evaluator(name: str) -> None:
    try:
        registry.check_installed(name)
    except LookupError as exc:
        raise HTTPException(422, str(exc)) from None


def _range(start: str | None, end: str | None) -> tuple[int, int]:
    end_ns = parse_time(end, "end") or time.time_ns() + 60 * 10**9
    start_ns = parse_time(start, "start") or end_ns - DAY_NS
    if start_ns >= end_ns:
        raise HTTPException(422, "start must be before end")
    return start_ns, end_ns


@router.get("/evaluators")
async def list_evaluators() -> dict[str, Any]:
    """Registered scorers and whether this build has each of them."""
    items = []
    for name in sorted(registry.ENTRY_POINTS):
        try:
            registry.check_installed(name)
            items.append({"name": name, "installed": True, "error": None})
        except LookupError as exc:
            items.append({"name": name, "installed": False, "error": str(exc)})
    return {"items": items}


@router.post("/evaluators/configs", status_code=201)
async def create_config(body: ConfigBody, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    _check_evaluator(body.evaluator)
    cfg = await _call(
        app.worker.evaluations.create_config, project, name=body.name or body.evaluator, evaluator=body.evaluator,
        schedule=body.schedule, sampling_rate=body.sampling_rate, filters=body.filters, params=body.params,
        enabled=body.enabled,
    )  # fmt: skip
    await _configs_changed(app)
    return _plain(cfg)


@router.get("/evaluators/configs")
async def list_configs(project: ProjectDep, app: AppDep) -> dict[str, Any]:
    return {"items": [_plain(c) for c in await _call(app.worker.evaluations.list_configs, project)]}


@router.get("/evaluators/configs/{config_id}")
async def get_config(config_id: int, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    cfg = await _call(app.worker.evaluations.get_config, project, config_id)
    if cfg is None:
        raise HTTPException(404, f"evaluator config {config_id} does not exist in this project")
    return _plain(cfg)


@router.patch("/evaluators/configs/{config_id}")
async def update_config(config_id: int, body: ConfigPatch, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "evaluator" in changes:
        _check_evaluator(changes["evaluator"])
    cfg = await _call(app.worker.evaluations.update_config, project, config_id, changes)
    await _configs_changed(app)
    return _plain(cfg)


@router.post("/evaluators/configs/{config_id}/enable")
async def enable_config(config_id: int, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    cfg = await _call(app.worker.evaluations.update_config, project, config_id, {"enabled": True})
    await _configs_changed(app)
    return _plain(cfg)


@router.post("/evaluators/configs/{config_id}/disable")
async def disable_config(config_id: int, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    cfg = await _call(app.worker.evaluations.update_config, project, config_id, {"enabled": False})
    await _configs_changed(app)
    return _plain(cfg)


@router.delete("/evaluators/configs/{config_id}", status_code=204)
async def delete_config(config_id: int, project: ProjectDep, app: AppDep) -> None:
    if not await _call(app.worker.evaluations.delete_config, project, config_id):
        raise HTTPException(404, f"evaluator config {config_id} does not exist in this project")


@router.get("/evaluators/runs")
async def list_runs(
    project: ProjectDep, app: AppDep, config_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:  # fmt: skip
    """Run history: scheduled and backfill runs with counts, durations and errors."""
    runs = await _call(app.worker.evaluations.list_runs, project, config_id=config_id, limit=limit)
    return {"items": [_plain(r) for r in runs]}


@router.post("/evaluations/backfill", status_code=202)
async def submit_backfill(body: BackfillBody, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    """Score past spans with a config's evaluator; follow it at /jobs/{id}."""
    since = parse_time(body.since, "since")
    until = parse_time(body.until, "until") or time.time_ns() + 60 * 10**9
    if since is None or since >= until:
        raise HTTPException(422, "since must be a time before until")
    svc = app.worker
    cfg = await _call(svc.evaluations.find_config, project, body.evaluator)
    if cfg is None:
        raise HTTPException(404, f"no evaluator config named {body.evaluator!r} (or several use that evaluator)")
    scorer_name = cfg.evaluator
    _check_evaluator(scorer_name)
    job = await _call(app.repo.create_job, project, "eval_backfill",
                      {"config_id": cfg.id, "evaluator": scorer_name, "start_ns": since, "end_ns": until})  # fmt: skip
    w = svc.worker
    app.spawn(asyncio.to_thread(backfill, w.client_factory, svc.tables, svc.evaluations, app.repo, w.options, w.scorers,
                                job.id, cfg, since, until, w.name))  # fmt: skip
    return _plain(job)


@router.get("/evaluations/scores")
async def scores(
    project: ProjectDep, app: AppDep, q: QueriesDep, evaluator: str | None = None,
    bucket: Annotated[str, Query(pattern="^(minute|hour|day)$")] = "hour",
    start: str | None = None, end: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Scores over time per evaluator and metric (mean, min, max, count, failures)."""
    lo, hi = _range(start, end)
    rows = await asyncio.to_thread(EvaluationQueries(q.client, app.worker.tables).scores_over_time,
                                   project, lo, hi, bucket_s=BUCKETS[bucket], evaluator=evaluator)  # fmt: skip
    return {"items": _rows(rows)}


@router.get("/evaluations/worst")
async def worst(
    project: ProjectDep, app: AppDep, q: QueriesDep, evaluator: str, metric: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20, start: str | None = None, end: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Lowest-scoring spans, each with a link to its trace."""
    lo, hi = _range(start, end)
    rows = await asyncio.to_thread(EvaluationQueries(q.client, app.worker.tables).worst_spans,
                                   project, lo, hi, evaluator=evaluator, metric=metric, limit=limit)  # fmt: skip
    items = _rows(rows)
    for r in items:
        r["trace_url"] = f"/api/v1/traces/{r['trace_id']}"
    return {"items": items}


@router.get("/evaluations/findings")
async def findings(
    project: ProjectDep, app: AppDep, q: QueriesDep, evaluator: str = "pii",
    start: str | None = None, end: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Findings by type (PII entity types, failed heuristic checks)."""
    lo, hi = _range(start, end)
    rows = await asyncio.to_thread(EvaluationQueries(q.client, app.worker.tables).findings_by_type,
                                   project, lo, hi, evaluator=evaluator)  # fmt: skip
    return {"items": _rows(rows)}


@router.get("/evaluations/drift")
async def drift(
    project: ProjectDep, app: AppDep, q: QueriesDep, evaluator: str = "drift",
    start: str | None = None, end: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Drift time series per feature and model: p-value, effect size, baseline size."""
    lo, hi = _range(start, end)
    rows = await asyncio.to_thread(EvaluationQueries(q.client, app.worker.tables).drift_series,
                                   project, lo, hi, evaluator=evaluator)  # fmt: skip
    return {"items": _rows(rows)}


@router.get("/evaluations/traces/{trace_id}")
async def trace_scores(trace_id: str, project: ProjectDep, app: AppDep, q: QueriesDep) -> dict[str, Any]:
    """Every score of one trace's spans (worker and app scores alike)."""
    if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
        raise HTTPException(422, "trace_id must be 32 lowercase hex characters")
    rows = await asyncio.to_thread(EvaluationQueries(q.client, app.worker.tables).span_scores, project, trace_id)
    return {"items": _rows(rows)}
