"""Alerting: hooks (signed JSON webhooks, Slack, Alertmanager), alert rules, budgets with
burn-down, firing history and the delivery log."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from collector.api.deps import AppDep, ProjectDep, QueriesDep
from collector.api.routers.evaluations import _call, _plain
from evaluators.alerts.engine import burn_down
from storage.clickhouse.alert_queries import AlertQueries
from storage.metadata.alert_repo import EVAL_METRICS, METRICS, SPAN_GROUPS, EVAL_GROUPS

router = APIRouter(tags=["alerts"])


class HookBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    url: str
    kind: Literal["webhook", "slack", "alertmanager"] = Field(
        default="webhook", description="signed JSON webhook, Slack incoming webhook, or an Alertmanager (its base URL "
        "or /api/v2/alerts)")
    secret: str | None = Field(default=None, description="HMAC secret; generated (and shown once) when omitted")


class HookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    enabled: bool | None = None


class RuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    metric: str = Field(description="see GET /alerts/metrics")
    threshold: float
    comparison: Literal[">", ">=", "<", "<="] = ">"
    window_seconds: int = 300
    group_by: str | None = None
    cooldown_seconds: int = 0
    notify_resolve: bool = True
    params: dict[str, Any] = Field(default_factory=dict, description="evaluator, metric, feature, filters")
    hook_ids: list[int] = Field(default_factory=list)
    enabled: bool = True


class RulePatch(BaseModel):
    """Only the fields sent change; each is checked as on create."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    metric: str | None = None
    threshold: float | None = None
    comparison: Literal[">", ">=", "<", "<="] | None = None
    window_seconds: int | None = None
    group_by: str | None = None
    cooldown_seconds: int | None = None
    notify_resolve: bool | None = None
    params: dict[str, Any] | None = None
    hook_ids: list[int] | None = None
    enabled: bool | None = None


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    limit_usd: str | float
    period: Literal["day", "month"] = "month"
    scope: str = Field(default="project", description="project, user or attr:<key>")
    scope_value: str = ""
    thresholds: list[float] | None = Field(default=None, description="fractions of the limit; default 0.5, 0.8, 1.0")
    hook_ids: list[int] = Field(default_factory=list)


# ---- hooks


@router.post("/hooks", status_code=201)
async def create_hook(body: HookBody, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    """Returns the signing secret once; receivers verify X-Llmobs-Signature with it."""
    hook, secret = await _call(app.worker.alerts.create_hook, project, name=body.name, kind=body.kind,
                               url=body.url, secret=body.secret)  # fmt: skip
    return {**_plain(hook), "secret": secret}


@router.get("/hooks")
async def list_hooks(project: ProjectDep, app: AppDep) -> dict[str, Any]:
    return {"items": [_plain(h) for h in await _call(app.worker.alerts.list_hooks, project)]}


@router.patch("/hooks/{hook_id}")
async def update_hook(hook_id: int, body: HookPatch, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    return _plain(await _call(app.worker.alerts.update_hook, project, hook_id, url=body.url, enabled=body.enabled))


@router.delete("/hooks/{hook_id}", status_code=204)
async def delete_hook(hook_id: int, project: ProjectDep, app: AppDep) -> None:
    if not await _call(app.worker.alerts.delete_hook, project, hook_id):
        raise HTTPException(404, f"hook {hook_id} does not exist in this project")


@router.post("/hooks/{hook_id}/test", status_code=202)
async def test_hook(hook_id: int, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    """Queue a test notification; its attempts appear in the delivery log."""
    hook = await _call(app.worker.alerts.get_hook, project, hook_id)
    if hook is None:
        raise HTTPException(404, f"hook {hook_id} does not exist in this project")
    if not hook.enabled:
        raise HTTPException(409, f"hook {hook_id} is disabled")
    payload = {"version": 1, "kind": "test", "status": "test", "project": project, "title": f"test of hook {hook.name}",
               "at": datetime.now(UTC).isoformat()}  # fmt: skip
    dedupe = f"test:{uuid.uuid4().hex}"
    ids = await _call(app.worker.alerts.enqueue, project, [hook_id], dedupe, {**payload, "dedupe_key": dedupe})
    return {"delivery_id": ids[0], "dedupe_key": dedupe}


@router.get("/deliveries")
async def deliveries(
    project: ProjectDep, app: AppDep, hook_id: int | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """The delivery log: every notification, its attempts, last answer and error."""
    return {"items": [_plain(d) for d in await _call(app.worker.alerts.list_deliveries, project, hook_id=hook_id,
                                                            limit=limit)]}  # fmt: skip


# ---- rules


@router.get("/alerts/metrics")
async def alert_metrics() -> dict[str, Any]:
    return {"items": [{"metric": name, "source": "evaluations" if name in EVAL_METRICS else "spans",
                       "group_by": sorted(EVAL_GROUPS if name in EVAL_METRICS else [*SPAN_GROUPS, "attr:<key>"])}
                      for name in sorted(METRICS)]}  # fmt: skip


def _rules_changed(app: Any) -> None:
    if app.worker.incremental is not None:
        app.worker.incremental.invalidate()


@router.post("/alerts/rules", status_code=201)
async def create_rule(body: RuleBody, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    rule = await _call(app.worker.alerts.create_rule, project, **body.model_dump())
    _rules_changed(app)
    return _plain(rule)


@router.get("/alerts/rules")
async def list_rules(project: ProjectDep, app: AppDep) -> dict[str, Any]:
    return {"items": [_plain(r) for r in await _call(app.worker.alerts.list_rules, project)]}


@router.get("/alerts/rules/{rule_id}")
async def get_rule(rule_id: int, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    rule = await _call(app.worker.alerts.get_rule, project, rule_id)
    if rule is None:
        raise HTTPException(404, f"alert rule {rule_id} does not exist in this project")
    states = await _call(app.worker.alerts.states, project, f"rule:{rule_id}:")
    return {**_plain(rule), "groups": [{"group": k.split(":", 2)[2], **_plain(st)} for k, st in states.items()]}


@router.patch("/alerts/rules/{rule_id}")
async def update_rule(rule_id: int, body: RulePatch, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    rule = await _call(app.worker.alerts.update_rule, project, rule_id, **body.model_dump(exclude_unset=True))
    _rules_changed(app)
    return _plain(rule)


@router.post("/alerts/rules/{rule_id}/enable")
async def enable_rule(rule_id: int, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    rule = await _call(app.worker.alerts.set_rule_enabled, project, rule_id, True)
    _rules_changed(app)
    return _plain(rule)


@router.post("/alerts/rules/{rule_id}/disable")
async def disable_rule(rule_id: int, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    rule = await _call(app.worker.alerts.set_rule_enabled, project, rule_id, False)
    _rules_changed(app)
    return _plain(rule)


@router.delete("/alerts/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: int, project: ProjectDep, app: AppDep) -> None:
    if not await _call(app.worker.alerts.delete_rule, project, rule_id):
        raise HTTPException(404, f"alert rule {rule_id} does not exist in this project")
    _rules_changed(app)


@router.get("/alerts/events")
async def events(
    project: ProjectDep, app: AppDep, rule_id: int | None = None, budget_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:  # fmt: skip
    """Firing history: every transition of every rule and budget, newest first."""
    rows = await _call(app.worker.alerts.list_events, project, rule_id=rule_id, budget_id=budget_id, limit=limit)
    return {"items": [_plain(e) for e in rows]}


# ---- budgets


@router.post("/budgets", status_code=201)
async def create_budget(body: BudgetBody, project: ProjectDep, app: AppDep) -> dict[str, Any]:
    return _plain(await _call(app.worker.alerts.create_budget, project, **body.model_dump()))


@router.get("/budgets")
async def list_budgets(project: ProjectDep, app: AppDep, q: QueriesDep) -> dict[str, Any]:
    """Budgets with their burn-down in the current period."""
    budgets = await _call(app.worker.alerts.list_budgets, project)
    aq = AlertQueries(q.client, app.worker.tables)
    now = datetime.now(UTC)
    out = []
    for b in budgets:
        bd = await asyncio.to_thread(burn_down, aq, b, now)
        out.append({**_plain(b), "burn_down": bd.as_dict()})
    return {"items": out}


@router.get("/budgets/{budget_id}")
async def get_budget(budget_id: int, project: ProjectDep, app: AppDep, q: QueriesDep) -> dict[str, Any]:
    b = await _call(app.worker.alerts.get_budget, project, budget_id)
    if b is None:
        raise HTTPException(404, f"budget {budget_id} does not exist in this project")
    bd = await asyncio.to_thread(burn_down, AlertQueries(q.client, app.worker.tables), b, datetime.now(UTC))
    return {**_plain(b), "burn_down": bd.as_dict()}


@router.delete("/budgets/{budget_id}", status_code=204)
async def delete_budget(budget_id: int, project: ProjectDep, app: AppDep) -> None:
    if not await _call(app.worker.alerts.delete_budget, project, budget_id):
        raise HTTPException(404, f"budget {budget_id} does not exist in this project")
