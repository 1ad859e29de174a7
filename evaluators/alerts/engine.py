"""Evaluates alert rules and budgets every few seconds.

A rule is one windowed aggregate per group (`AlertQueries.metric`) compared
with its threshold; each group's state moves ok -> firing -> ok, and only a
move is announced (with a cooldown between notifications of the same group,
and a resolve message when the rule asks for it).  A budget is the spend of
its scope since the start of the day or month; crossing a threshold (50, 80,
100 % by default) is announced once per period.  Notifications go to the
outbox in the transaction that records the transition, so they are sent by
the delivery loop and never block this one.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from storage.clickhouse.alert_queries import AlertQueries
from storage.clickhouse.tables import Tables
from storage.metadata.alert_repo import AlertEvent, AlertRepo, AlertRule, AlertStateRecord, Budget

log = logging.getLogger(__name__)
NS = 10**9
_CMP: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


def breached(rule: AlertRule, value: float) -> bool:
    return _CMP[rule.comparison](value, rule.threshold)


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, datetime.fromtimestamp(start.timestamp() + 86400, UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    return start, datetime.fromtimestamp(start.timestamp() + days * 86400, UTC)


@dataclass(frozen=True, slots=True)
class BurnDown:
    """Where a budget stands in its current period."""

    budget_id: int
    period_start: datetime
    period_end: datetime
    limit_usd: Decimal
    spent_usd: float
    used: float  # spent / limit
    remaining_usd: float
    projected_usd: float  # at this period's pace, the spend at its end
    level: float  # highest threshold reached (0 = none)

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget_id": self.budget_id, "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(), "limit_usd": format(self.limit_usd.normalize(), "f"),
            "spent_usd": self.spent_usd, "used": self.used, "remaining_usd": self.remaining_usd,
            "projected_usd": self.projected_usd, "level": self.level,
        }  # fmt: skip


def burn_down(q: AlertQueries, budget: Budget, now: datetime) -> BurnDown:
    start, end = period_bounds(budget.period, now)
    spent = q.spend(budget.project_id, budget.scope, budget.scope_value, int(start.timestamp()) * NS,
                    int(end.timestamp()) * NS)  # fmt: skip
    limit = float(budget.limit_usd)
    used = spent / limit
    elapsed = max((now - start).total_seconds(), 60.0)
    projected = spent * (end - start).total_seconds() / elapsed
    level = max([t for t in budget.thresholds if used >= t], default=0.0)
    return BurnDown(budget.id, start, end, budget.limit_usd, spent, used, max(limit - spent, 0.0), projected, level)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a rule compares with its threshold for one group: the window's
    value, or its ratio to the trailing baseline when the rule has one."""

    value: float
    observed: float
    samples: int
    baseline: float | None = None


def judge(rule: AlertRule, current: tuple[float, int], baseline: tuple[float, int] | None) -> Reading | None:
    """None when the rule cannot say anything yet: fewer samples than
    `min_samples` in the window, or (with a baseline) fewer than
    `baseline_min_samples` in the baseline, or a zero baseline."""
    value, n = current
    if n < int(rule.params.get("min_samples", 1)):
        return None
    if not rule.params.get("baseline_seconds"):
        return Reading(value, value, n)
    if baseline is None or baseline[1] < int(rule.params.get("baseline_min_samples", rule.params.get("min_samples", 1))):
        return None
    if baseline[0] <= 0:
        return None
    return Reading(value / baseline[0], value, n, baseline[0])


class AlertEngine:
    def __init__(self, client_factory: Callable[[], Client], tables: Tables, repo: AlertRepo) -> None:
        self._factory = client_factory
        self._tables = tables
        self.repo = repo
        # Rules that the incremental evaluator owns (evaluators/alerts/incremental.py)
        # are not re-read from SQL here: one owner per rule, or the two would flap.
        self.owned_elsewhere: Callable[[AlertRule], bool] = lambda rule: False
        self._calm_since: dict[str, float] = {}  # firing group key -> since when (monotonic) it has been calm

    def _payload(self, rule: AlertRule, group: str, status: str, reading: Reading | None) -> dict[str, Any]:
        return {
            "version": 1, "kind": "alert", "status": status, "project": rule.project_id, "title": rule.name,
            "rule": {"id": rule.id, "name": rule.name, "metric": rule.metric, "params": rule.params,
                     "comparison": rule.comparison, "threshold": rule.threshold,
                     "window_seconds": rule.window_seconds, "group_by": rule.group_by},
            "group": group, "value": None if reading is None else reading.value, "threshold": rule.threshold,
            "observed": None if reading is None else reading.observed,
            "baseline": None if reading is None else reading.baseline,
            "samples": None if reading is None else reading.samples,
            "link": f"/api/v1/alerts/events?rule_id={rule.id}",
        }  # fmt: skip

    def check_rule(self, q: AlertQueries, rule: AlertRule, now_ns: int) -> int:
        """Evaluate one rule over its window in SQL; returns the number of transitions."""
        start = now_ns - rule.window_seconds * NS
        current = q.metric(rule.project_id, rule.metric, rule.params, rule.group_by, start, now_ns)
        baseline = None
        if rule.params.get("baseline_seconds"):
            baseline = q.metric(rule.project_id, rule.metric, rule.params, rule.group_by,
                                start - int(rule.params["baseline_seconds"]) * NS, start)  # fmt: skip
        prefix = f"rule:{rule.id}:"
        return self.apply(rule, current, baseline, self.repo.states(rule.project_id, prefix))

    def apply(self, rule: AlertRule, current: dict[str, tuple[float, int]],
              baseline: dict[str, tuple[float, int]] | None, states: dict[str, AlertStateRecord], *,
              resolve_missing: bool = True, touch: bool = True, allow_resolve: bool = True) -> int:  # fmt: skip
        """Judge each group's window value (and baseline) and write the
        transitions; `states` (key -> record) is updated in place, so a caller
        that keeps it in memory (the incremental evaluator) stays current.
        Shared by the SQL check and the incremental one: both fire, cool down
        and resolve the same way.  `allow_resolve` False judges firing only
        (a window that does not yet cover the rule's whole span of time can
        show a breach, but not the absence of one)."""
        prefix = f"rule:{rule.id}:"
        pattern = rule.params.get("match")
        moved = 0
        for group, cur in current.items():
            if pattern and not re.search(pattern, group):
                continue
            reading = judge(rule, cur, None if baseline is None else baseline.get(group))
            key = prefix + group
            was = states[key].state if key in states else "ok"
            if reading is None:  # too few samples (or no baseline yet): no verdict either way
                continue
            firing = breached(rule, reading.value)
            if firing:
                self._calm_since.pop(key, None)
            if firing and was != "firing":
                ev = self.repo.transition(
                    rule.project_id, key, expect=was, new="firing", value=reading.value, event_status="firing",
                    group_key=group, threshold=rule.threshold, rule_id=rule.id, hook_ids=rule.hook_ids,
                    payload=self._payload(rule, group, "firing", reading), cooldown_seconds=rule.cooldown_seconds,
                )  # fmt: skip
                moved += self._after(rule, key, ev, states)
            elif not firing and was == "firing":
                if allow_resolve and self._calm_for(rule, key):
                    moved += self._resolve(rule, key, group, reading, states)
            elif key in states and touch:
                self.repo.touch_state(key, reading.value)
        if resolve_missing:
            for key, st in list(states.items()):  # groups with no data in the window any more
                group = key[len(prefix):]
                if key.startswith(prefix) and st.state == "firing" and group not in current and self._calm_for(rule, key):
                    moved += self._resolve(rule, key, group, None, states)
        return moved

    def _calm_for(self, rule: AlertRule, key: str) -> bool:
        """Whether a firing group has been calm (not breaching, or without
        data) for the rule's `resolve_after_seconds`: a value hovering at the
        threshold then resolves once instead of flapping on every batch."""
        hold = float(rule.params.get("resolve_after_seconds", 0))
        if hold <= 0:
            return True
        now = time.monotonic()
        return now - self._calm_since.setdefault(key, now) >= hold

    def _after(self, rule: AlertRule, key: str, ev: AlertEvent | None, states: dict[str, AlertStateRecord]) -> int:
        """Refresh the cached state of `key` after a transition attempt (another
        replica may have moved it first: then the stored state wins)."""
        fresh = self.repo.states(rule.project_id, key)
        if key in fresh:
            states[key] = fresh[key]
        return int(ev is not None)

    def _resolve(self, rule: AlertRule, key: str, group: str, reading: Reading | None,
                 states: dict[str, AlertStateRecord]) -> int:  # fmt: skip
        self._calm_since.pop(key, None)
        payload = self._payload(rule, group, "resolved", reading) if rule.notify_resolve else None
        ev = self.repo.transition(
            rule.project_id, key, expect="firing", new="ok", value=None if reading is None else reading.value,
            event_status="resolved", group_key=group, threshold=rule.threshold, rule_id=rule.id,
            hook_ids=rule.hook_ids, payload=payload,
        )  # fmt: skip
        return self._after(rule, key, ev, states)

    def check_budget(self, q: AlertQueries, budget: Budget, now: datetime) -> int:
        bd = burn_down(q, budget, now)
        key = f"budget:{budget.id}:{bd.period_start.date().isoformat()}"
        states = self.repo.states(budget.project_id, key)
        was = states[key].state if key in states else "ok"
        reached = float(was.split(":", 1)[1]) if was.startswith("level:") else 0.0
        if bd.level <= reached:
            if key in states:
                self.repo.touch_state(key, bd.used)
            return 0
        pct = round(bd.level * 100)
        payload = {
            "version": 1, "kind": "budget", "status": f"budget_{pct}", "project": budget.project_id,
            "title": f"budget {budget.name} at {pct}%", "budget": {"id": budget.id, "name": budget.name,
            "scope": budget.scope, "scope_value": budget.scope_value, "period": budget.period},
            "value": bd.spent_usd, "threshold": float(budget.limit_usd) * bd.level, "burn_down": bd.as_dict(),
            "group": budget.scope_value, "link": f"/api/v1/budgets/{budget.id}",
        }  # fmt: skip
        ev = self.repo.transition(
            budget.project_id, key, expect=was, new=f"level:{bd.level}", value=bd.used, event_status=f"budget_{pct}",
            group_key=budget.scope_value, threshold=bd.level, budget_id=budget.id, hook_ids=budget.hook_ids,
            payload=payload,
        )  # fmt: skip
        return int(ev is not None)

    def check_all(self) -> int:
        """Blocking: every enabled rule and budget once."""
        client = self._factory()
        moved = 0
        try:
            q = AlertQueries(client, self._tables)
            now_ns = time.time_ns()
            for rule in self.repo.list_rules(enabled_only=True):
                if self.owned_elsewhere(rule):
                    continue
                try:
                    moved += self.check_rule(q, rule, now_ns)
                except Exception:  # noqa: BLE001 - one broken rule must not stop the others
                    log.exception("alert rule %s failed", rule.id)
            now = datetime.now(UTC)
            for budget in self.repo.list_budgets():
                if budget.enabled:
                    try:
                        moved += self.check_budget(q, budget, now)
                    except Exception:  # noqa: BLE001
                        log.exception("budget %s failed", budget.id)
        finally:
            client.close()
        return moved
