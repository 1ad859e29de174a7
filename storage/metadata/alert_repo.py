"""Alert rules, budgets, hooks, the delivery outbox, alert state and firing
history in the metadata store.

Exactly one notification per transition, across replicas: a transition
(rule group ok -> firing, budget reaching 80 %, ...) is written with its
history row and its outbox rows in ONE transaction that first locks the
state row; a replica that evaluated the same rule at the same time finds the
state already changed and does nothing, and the outbox's unique
(hook, dedupe_key) refuses a second copy in any case.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import models as m
from . import validate as v
from .db import Repo
from .evaluation_repo import name_field, span_filters
from .validate import Conflict, InvalidInput, NotFound

SPAN_METRICS = {
    "cost", "cost_per_request", "tokens", "input_tokens", "output_tokens", "requests", "errors", "error_rate",
    "latency_p50", "latency_p95", "latency_p99", "ttft_p50", "ttft_p95", "ttft_p99",
}  # fmt: skip
EVAL_METRICS = {"eval_score", "eval_fail_rate", "pii_rate", "drift_p_value"}
METRICS = SPAN_METRICS | EVAL_METRICS
SPAN_GROUPS = {"model", "provider", "service", "user", "session", "operation"}
EVAL_GROUPS = {"model", "service"}
_ATTR_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,200}$")
_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
DEFAULT_THRESHOLDS = (0.5, 0.8, 1.0)


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class Hook:
    id: int
    project_id: str
    name: str
    kind: str
    url: str
    enabled: bool
    created_at: datetime
    secret_hint: str  # the first characters, so a user can tell secrets apart


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """What the delivery loop needs to send one outbox row."""

    id: int
    hook_id: int
    kind: str
    url: str
    secret: str
    payload: dict[str, Any]
    dedupe_key: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    hook_id: int
    project_id: str
    dedupe_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertRule:
    id: int
    project_id: str
    name: str
    metric: str
    params: dict[str, Any]
    comparison: str
    threshold: float
    window_seconds: int
    group_by: str | None
    cooldown_seconds: int
    notify_resolve: bool
    hook_ids: list[int]
    enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Budget:
    id: int
    project_id: str
    name: str
    scope: str
    scope_value: str
    period: str
    limit_usd: Decimal
    thresholds: list[float]
    hook_ids: list[int]
    enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: int
    project_id: str
    rule_id: int | None
    budget_id: int | None
    group_key: str
    status: str
    value: float | None
    threshold: float | None
    dedupe_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertStateRecord:
    key: str
    state: str
    value: float | None
    since: datetime
    last_notified_at: datetime | None


def _hook(r: m.Hook) -> Hook:
    return Hook(r.id, r.project_id, r.name, r.kind, r.url, bool(r.enabled), r.created_at, r.secret[:6])


def _delivery(r: m.Delivery) -> Delivery:
    return Delivery(r.id, r.hook_id, r.project_id, r.dedupe_key, dict(r.payload), r.status, r.attempts,
                    r.next_attempt_at, r.created_at, r.last_status_code, r.last_error, r.delivered_at)  # fmt: skip


def _rule(r: m.AlertRule) -> AlertRule:
    return AlertRule(r.id, r.project_id, r.name, r.metric, dict(r.params or {}), r.comparison, r.threshold,
                     r.window_seconds, r.group_by, r.cooldown_seconds, bool(r.notify_resolve),
                     [int(x) for x in r.hook_ids or []], bool(r.enabled), r.created_at)  # fmt: skip


def _budget(r: m.Budget) -> Budget:
    return Budget(r.id, r.project_id, r.name, r.scope, r.scope_value, r.period, r.limit_usd,
                  [float(x) for x in r.thresholds or []], [int(x) for x in r.hook_ids or []], bool(r.enabled),
                  r.created_at)  # fmt: skip


def _event(r: m.AlertEvent) -> AlertEvent:
    return AlertEvent(r.id, r.project_id, r.rule_id, r.budget_id, r.group_key, r.status, r.value, r.threshold,
                      r.dedupe_key, r.at)  # fmt: skip


# --------------------------------------------------------------- validation


def hook_url(value: object) -> str:
    url = v.text_field("url", value, 2000)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"url must be an http(s) URL, got {url!r}")
    return url


def group_by(metric: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput("group_by must be a string")
    allowed = EVAL_GROUPS if metric in EVAL_METRICS else SPAN_GROUPS
    if value in allowed:
        return value
    if metric in SPAN_METRICS and value.startswith("attr:") and _ATTR_KEY.match(value[5:]):
        return value
    extra = " or attr:<key>" if metric in SPAN_METRICS else ""
    raise InvalidInput(f"cannot group {metric} by {value!r}: use one of {sorted(allowed)}{extra}")


RULE_PARAMS = ("evaluator", "metric", "feature", "filters", "min_samples", "baseline_seconds",
               "baseline_min_samples", "match", "severity", "entity_types", "resolve_after_seconds")


def rule_params(metric: str, value: object) -> dict[str, Any]:
    """Validated rule params.  Besides what selects the data (evaluator,
    metric, feature, filters): `min_samples` (a group with fewer calls or
    scores in the window is not judged, so a quiet minute cannot fire a rate
    or a percentile), `baseline_seconds` (compare the window's value with the
    same group's trailing baseline just before the window: the threshold is
    then a ratio, e.g. 1.5 = 50 % above the baseline), `baseline_min_samples`,
    `match` (a regular expression the group value must match), `severity`
    (a label for Alertmanager: warning by default) and, for pii_rate,
    `entity_types` (count a span only for findings of these types, e.g.
    ["US_SSN", "CREDIT_CARD"]: NER finds names everywhere), and
    `resolve_after_seconds` (a firing group resolves only after it has been
    calm that long, so a value hovering at the threshold does not flap)."""
    params = v.json_object("params", value) or {}
    unknown = set(params) - set(RULE_PARAMS)
    if unknown:
        raise InvalidInput(f"unknown rule param(s) {sorted(unknown)}: use {', '.join(RULE_PARAMS)}")
    if "min_samples" in params:
        params["min_samples"] = whole("params.min_samples", params["min_samples"], 1, 10_000_000)
    if "baseline_min_samples" in params:
        params["baseline_min_samples"] = whole("params.baseline_min_samples", params["baseline_min_samples"], 1,
                                               10_000_000)  # fmt: skip
    if "baseline_seconds" in params:
        params["baseline_seconds"] = whole("params.baseline_seconds", params["baseline_seconds"], 60, 31 * 86400)
        if metric in ("drift_p_value",):
            raise InvalidInput("drift_p_value has no baseline: it already compares two windows")
    if "entity_types" in params:
        types = params["entity_types"]
        if metric != "pii_rate":
            raise InvalidInput("params.entity_types applies to pii_rate only")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) and _ENTITY.match(t) for t in types):
            raise InvalidInput("params.entity_types must be a non-empty list of entity types such as 'US_SSN'")
        params["entity_types"] = sorted(set(types))
    if "resolve_after_seconds" in params:
        params["resolve_after_seconds"] = whole("params.resolve_after_seconds", params["resolve_after_seconds"], 0,
                                                86400)  # fmt: skip
    if "match" in params:
        pattern = v.text_field("params.match", params["match"], 500)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidInput(f"params.match is not a valid regular expression: {exc}") from None
    if metric in ("eval_score", "eval_fail_rate") and not params.get("evaluator"):
        raise InvalidInput(f"{metric} needs params.evaluator (and optionally params.metric)")
    for key in ("evaluator", "metric", "feature", "severity"):
        if key in params:
            params[key] = v.text_field(f"params.{key}", params[key], 100)
    if "filters" in params:
        params["filters"] = span_filters(params["filters"])
    return params


def number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidInput(f"{field} must be a number, got {value!r}")
    return float(value)


def whole(field: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput(f"{field} must be a whole number between {lo} and {hi}, got {value!r}")
    return value


def budget_scope(scope: object, scope_value: object) -> tuple[str, str]:
    if scope == "project":
        return "project", ""
    if scope == "user" or (isinstance(scope, str) and scope.startswith("attr:") and _ATTR_KEY.match(scope[5:])):
        return scope, v.text_field("scope_value", scope_value, 500)  # type: ignore[return-value]
    raise InvalidInput(f"scope must be 'project', 'user' or 'attr:<key>', got {scope!r}")


def thresholds(value: object) -> list[float]:
    if value is None:
        return list(DEFAULT_THRESHOLDS)
    if not isinstance(value, list) or not value:
        raise InvalidInput("thresholds must be a non-empty list of fractions of the limit, e.g. [0.5, 0.8, 1.0]")
    out = sorted({number("thresholds[]", x) for x in value})
    if out[0] <= 0 or out[-1] > 10:
        raise InvalidInput("thresholds must be fractions of the limit between 0 (exclusive) and 10")
    return out


# --------------------------------------------------------------- repository


class AlertRepo(Repo):
    @staticmethod
    def _require_project(s: Session, project_id: str) -> None:
        if s.get(m.Project, project_id) is None:
            raise NotFound(f"project {project_id!r} does not exist")

    @staticmethod
    def _check_hooks(s: Session, project_id: str, hook_ids: object) -> list[int]:
        if hook_ids is None:
            return []
        if not isinstance(hook_ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hook_ids):
            raise InvalidInput("hook_ids must be a list of hook ids")
        for h in hook_ids:
            row = s.get(m.Hook, h)
            if row is None or row.project_id != project_id:
                raise InvalidInput(f"hook {h} does not exist in this project")
        return list(dict.fromkeys(hook_ids))

    def _add(self, s: Session, row: Any, what: str, name: str) -> None:
        s.add(row)
        try:
            with s.begin_nested():
                s.flush()
        except IntegrityError:
            raise Conflict(f"a {what} named {name!r} already exists in this project") from None

    # ---- hooks

    def create_hook(self, project_id: str, *, name: str, kind: str, url: str, secret: str | None = None) -> tuple[Hook, str]:
        """Returns the hook and its signing secret (shown once)."""
        if kind not in m.HOOK_KINDS:
            raise InvalidInput(f"kind must be one of {list(m.HOOK_KINDS)}, got {kind!r}")
        secret = secret if secret is not None else secrets.token_urlsafe(32)
        if len(v.text_field("secret", secret, 100)) < 16:
            raise InvalidInput("secret must be at least 16 characters")
        row = m.Hook(project_id=project_id, name=name_field("name", name), kind=kind, url=hook_url(url),
                     secret=secret, enabled=True)  # fmt: skip
        with self._tx() as s:
            self._require_project(s, project_id)
            self._add(s, row, "hook", name)
            return _hook(row), secret

    def list_hooks(self, project_id: str) -> list[Hook]:
        with self._tx() as s:
            return [_hook(r) for r in s.scalars(select(m.Hook).where(m.Hook.project_id == project_id).order_by(m.Hook.id))]

    def get_hook(self, project_id: str, hook_id: int) -> Hook | None:
        with self._tx() as s:
            r = s.get(m.Hook, hook_id)
            return None if r is None or r.project_id != project_id else _hook(r)

    def update_hook(self, project_id: str, hook_id: int, *, url: str | None = None, enabled: bool | None = None) -> Hook:
        clean_url = hook_url(url) if url is not None else None
        with self._tx() as s:
            r = s.get(m.Hook, hook_id)
            if r is None or r.project_id != project_id:
                raise NotFound(f"hook {hook_id} does not exist in this project")
            if clean_url is not None:
                r.url = clean_url
            if enabled is not None:
                r.enabled = bool(enabled)
            return _hook(r)

    def delete_hook(self, project_id: str, hook_id: int) -> bool:
        with self._tx() as s:
            r = s.get(m.Hook, hook_id)
            if r is None or r.project_id != project_id:
                return False
            s.delete(r)
            return True

    # ---- outbox

    @staticmethod
    def _enqueue(s: Session, project_id: str, hook_ids: Sequence[int], dedupe_key: str, payload: dict[str, Any]) -> list[int]:
        ids = []
        for hook_id in hook_ids:
            hook = s.get(m.Hook, hook_id)
            if hook is None or not hook.enabled:
                continue
            row = m.Delivery(hook_id=hook_id, project_id=project_id, dedupe_key=dedupe_key[:300], payload=payload,
                             status="pending", attempts=0, next_attempt_at=_now())  # fmt: skip
            try:
                with s.begin_nested():
                    s.add(row)
                    s.flush()
                ids.append(row.id)
            except IntegrityError:
                continue  # this notification was already queued for that hook
        return ids

    def enqueue(self, project_id: str, hook_ids: Sequence[int], dedupe_key: str, payload: dict[str, Any]) -> list[int]:
        with self._tx() as s:
            return self._enqueue(s, project_id, hook_ids, dedupe_key, payload)

    def claim_deliveries(self, *, limit: int, lease_seconds: float) -> list[DeliveryTarget]:
        """Due outbox rows; each is pushed `lease_seconds` ahead so no other
        replica sends it while this one is trying."""
        now = _now()
        out = []
        with self._tx() as s:
            q = (
                select(m.Delivery)
                .where(m.Delivery.status == "pending", m.Delivery.next_attempt_at <= now)
                .order_by(m.Delivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            for row in list(s.scalars(q)):
                res = s.execute(
                    update(m.Delivery)
                    .where(m.Delivery.id == row.id, m.Delivery.next_attempt_at <= now, m.Delivery.status == "pending")
                    .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
                )
                hook = s.get(m.Hook, row.hook_id)
                if res.rowcount == 1 and hook is not None:
                    out.append(DeliveryTarget(row.id, hook.id, hook.kind, hook.url, hook.secret, dict(row.payload),
                                              row.dedupe_key, row.attempts))  # fmt: skip
        return out

    def record_attempt(self, delivery_id: int, *, ok: bool, status_code: int | None, error: str | None,
                       retry_in: float | None) -> None:  # fmt: skip
        """ok: delivered; else pending again in `retry_in` seconds, or failed for good when None."""
        with self._tx() as s:
            row = s.get(m.Delivery, delivery_id)
            if row is None:
                return
            row.attempts += 1
            row.last_status_code, row.last_error = status_code, (error or None) and error[:2000]
            if ok:
                row.status, row.delivered_at = "delivered", _now()
            elif retry_in is None:
                row.status = "failed"
            else:
                row.next_attempt_at = _now() + timedelta(seconds=retry_in)

    def get_delivery(self, project_id: str, delivery_id: int) -> Delivery | None:
        with self._tx() as s:
            r = s.get(m.Delivery, delivery_id)
            return None if r is None or r.project_id != project_id else _delivery(r)

    def list_deliveries(self, project_id: str, *, hook_id: int | None = None, limit: int = 100) -> list[Delivery]:
        q = select(m.Delivery).where(m.Delivery.project_id == project_id)
        if hook_id is not None:
            q = q.where(m.Delivery.hook_id == hook_id)
        with self._tx() as s:
            return [_delivery(r) for r in s.scalars(q.order_by(m.Delivery.id.desc()).limit(limit))]

    # ---- rules

    def create_rule(
        self, project_id: str, *, name: str, metric: str, threshold: object, comparison: str = ">",
        window_seconds: object = 300, group_by: object = None, cooldown_seconds: object = 0,
        notify_resolve: bool = True, params: object = None, hook_ids: object = None, enabled: bool = True,
    ) -> AlertRule:  # fmt: skip
        if metric not in METRICS:
            raise InvalidInput(f"unknown metric {metric!r}; use one of {sorted(METRICS)}")
        if comparison not in m.COMPARISONS:
            raise InvalidInput(f"comparison must be one of {list(m.COMPARISONS)}, got {comparison!r}")
        row = m.AlertRule(
            project_id=project_id, name=name_field("name", name), metric=metric, params=rule_params(metric, params),
            comparison=comparison, threshold=number("threshold", threshold),
            window_seconds=whole("window_seconds", window_seconds, 1, 31 * 86400),
            group_by=globals()["group_by"](metric, group_by),
            cooldown_seconds=whole("cooldown_seconds", cooldown_seconds, 0, 31 * 86400),
            notify_resolve=bool(notify_resolve), enabled=bool(enabled),
        )  # fmt: skip
        with self._tx() as s:
            self._require_project(s, project_id)
            row.hook_ids = self._check_hooks(s, project_id, hook_ids)
            self._add(s, row, "rule", name)
            return _rule(row)

    def list_rules(self, project_id: str | None = None, *, enabled_only: bool = False) -> list[AlertRule]:
        q = select(m.AlertRule)
        if project_id is not None:
            q = q.where(m.AlertRule.project_id == project_id)
        if enabled_only:
            q = q.where(m.AlertRule.enabled.is_(True))
        with self._tx() as s:
            return [_rule(r) for r in s.scalars(q.order_by(m.AlertRule.id))]

    def get_rule(self, project_id: str, rule_id: int) -> AlertRule | None:
        with self._tx() as s:
            r = s.get(m.AlertRule, rule_id)
            return None if r is None or r.project_id != project_id else _rule(r)

    def set_rule_enabled(self, project_id: str, rule_id: int, enabled: bool) -> AlertRule:
        with self._tx() as s:
            r = s.get(m.AlertRule, rule_id)
            if r is None or r.project_id != project_id:
                raise NotFound(f"alert rule {rule_id} does not exist in this project")
            r.enabled = bool(enabled)
            return _rule(r)

    def update_rule(self, project_id: str, rule_id: int, **changes: Any) -> AlertRule:
        """Change a rule in place (its firing state and history stay); the
        fields are checked as on create, and a refused change changes nothing."""
        allowed = {"name", "metric", "threshold", "comparison", "window_seconds", "group_by", "cooldown_seconds",
                   "notify_resolve", "params", "hook_ids", "enabled"}  # fmt: skip
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"unknown rule field(s): {', '.join(sorted(unknown))}")
        with self._tx() as s:
            r = s.get(m.AlertRule, rule_id)
            if r is None or r.project_id != project_id:
                raise NotFound(f"alert rule {rule_id} does not exist in this project")
            metric = changes.get("metric", r.metric)
            if metric not in METRICS:
                raise InvalidInput(f"unknown metric {metric!r}; use one of {sorted(METRICS)}")
            comparison = changes.get("comparison", r.comparison)
            if comparison not in m.COMPARISONS:
                raise InvalidInput(f"comparison must be one of {list(m.COMPARISONS)}, got {comparison!r}")
            # Params and grouping are checked against the (possibly new) metric even when unchanged.
            params = rule_params(metric, changes.get("params", r.params))
            grouping = globals()["group_by"](metric, changes.get("group_by", r.group_by))
            values = {
                "name": name_field("name", changes["name"]) if "name" in changes else r.name,
                "threshold": number("threshold", changes["threshold"]) if "threshold" in changes else r.threshold,
                "window_seconds": whole("window_seconds", changes["window_seconds"], 1, 31 * 86400)
                if "window_seconds" in changes else r.window_seconds,
                "cooldown_seconds": whole("cooldown_seconds", changes["cooldown_seconds"], 0, 31 * 86400)
                if "cooldown_seconds" in changes else r.cooldown_seconds,
            }  # fmt: skip
            hooks = self._check_hooks(s, project_id, changes["hook_ids"]) if "hook_ids" in changes else r.hook_ids
            r.metric, r.comparison, r.params, r.group_by, r.hook_ids = metric, comparison, params, grouping, hooks
            r.name, r.threshold = values["name"], values["threshold"]
            r.window_seconds, r.cooldown_seconds = values["window_seconds"], values["cooldown_seconds"]
            if "notify_resolve" in changes:
                r.notify_resolve = bool(changes["notify_resolve"])
            if "enabled" in changes:
                r.enabled = bool(changes["enabled"])
            try:
                with s.begin_nested():
                    s.flush()
            except IntegrityError:
                raise Conflict(f"a rule named {r.name!r} already exists in this project") from None
            return _rule(r)

    def delete_rule(self, project_id: str, rule_id: int) -> bool:
        with self._tx() as s:
            r = s.get(m.AlertRule, rule_id)
            if r is None or r.project_id != project_id:
                return False
            s.delete(r)
            return True

    # ---- budgets

    def create_budget(
        self, project_id: str, *, name: str, limit_usd: object, period: str = "month", scope: str = "project",
        scope_value: object = "", thresholds: object = None, hook_ids: object = None,
    ) -> Budget:  # fmt: skip
        if period not in m.BUDGET_PERIODS:
            raise InvalidInput(f"period must be 'day' or 'month', got {period!r}")
        limit = v.money("limit_usd", limit_usd)
        if limit is None or limit <= 0:
            raise InvalidInput("limit_usd must be a positive amount")
        sc, sv = budget_scope(scope, scope_value)
        row = m.Budget(project_id=project_id, name=name_field("name", name), scope=sc, scope_value=sv, period=period,
                       limit_usd=limit, thresholds=globals()["thresholds"](thresholds), enabled=True)  # fmt: skip
        with self._tx() as s:
            self._require_project(s, project_id)
            row.hook_ids = self._check_hooks(s, project_id, hook_ids)
            self._add(s, row, "budget", name)
            s.refresh(row)
            return _budget(row)

    def list_budgets(self, project_id: str | None = None) -> list[Budget]:
        q = select(m.Budget)
        if project_id is not None:
            q = q.where(m.Budget.project_id == project_id)
        with self._tx() as s:
            return [_budget(r) for r in s.scalars(q.order_by(m.Budget.id))]

    def get_budget(self, project_id: str, budget_id: int) -> Budget | None:
        with self._tx() as s:
            r = s.get(m.Budget, budget_id)
            return None if r is None or r.project_id != project_id else _budget(r)

    def delete_budget(self, project_id: str, budget_id: int) -> bool:
        with self._tx() as s:
            r = s.get(m.Budget, budget_id)
            if r is None or r.project_id != project_id:
                return False
            s.delete(r)
            return True

    # ---- state, transitions and history

    def states(self, project_id: str, prefix: str) -> dict[str, AlertStateRecord]:
        with self._tx() as s:
            q = select(m.AlertState).where(m.AlertState.project_id == project_id, m.AlertState.key.startswith(prefix))
            return {r.key: AlertStateRecord(r.key, r.state, r.value, r.since, r.last_notified_at) for r in s.scalars(q)}

    def transition(
        self, project_id: str, key: str, *, expect: str, new: str, value: float | None, event_status: str,
        group_key: str, threshold: float | None, rule_id: int | None = None, budget_id: int | None = None,
        hook_ids: Sequence[int] = (), payload: dict[str, Any] | None = None, cooldown_seconds: float = 0,
    ) -> AlertEvent | None:  # fmt: skip
        """Move state `key` from `expect` to `new`, record the event and queue
        its notifications, all or nothing.  None when another evaluation got
        there first (the state is no longer `expect`)."""
        now = _now()
        with self._tx() as s:
            row = s.get(m.AlertState, key, with_for_update=True)
            current = row.state if row is not None else "ok"
            if current != expect:
                return None
            notify = payload is not None and (
                row is None or row.last_notified_at is None
                or (now - row.last_notified_at).total_seconds() >= cooldown_seconds
            )  # fmt: skip
            if row is None:
                row = m.AlertState(key=key, project_id=project_id, state=new, value=value, since=now, updated_at=now)
                try:
                    with s.begin_nested():
                        s.add(row)
                        s.flush()
                except IntegrityError:
                    return None  # a concurrent evaluation created it
            else:
                row.state, row.value, row.since, row.updated_at = new, value, now, now
            dedupe = f"{key}:{event_status}:{now.isoformat()}"
            ev = m.AlertEvent(project_id=project_id, rule_id=rule_id, budget_id=budget_id, group_key=group_key,
                              status=event_status, value=value, threshold=threshold, dedupe_key=dedupe, at=now)  # fmt: skip
            s.add(ev)
            s.flush()
            if notify and payload is not None:
                row.last_notified_at = now
                self._enqueue(s, project_id, hook_ids, dedupe, {**payload, "dedupe_key": dedupe, "event_id": ev.id,
                                                                 "at": now.isoformat()})  # fmt: skip
            return _event(ev)

    def touch_state(self, key: str, value: float | None) -> None:
        with self._tx() as s:
            row = s.get(m.AlertState, key)
            if row is not None:
                row.value, row.updated_at = value, _now()

    def list_events(self, project_id: str, *, rule_id: int | None = None, budget_id: int | None = None,
                    limit: int = 100) -> list[AlertEvent]:  # fmt: skip
        q = select(m.AlertEvent).where(m.AlertEvent.project_id == project_id)
        if rule_id is not None:
            q = q.where(m.AlertEvent.rule_id == rule_id)
        if budget_id is not None:
            q = q.where(m.AlertEvent.budget_id == budget_id)
        with self._tx() as s:
            return [_event(r) for r in s.scalars(q.order_by(m.AlertEvent.id.desc()).limit(limit))]
