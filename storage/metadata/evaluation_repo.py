"""Evaluator configs, watermarks and run history in the metadata store.

Several worker replicas share one database.  A run is claimed with a
conditional UPDATE that sets a lease (`lease_owner`, `lease_until`); on
PostgreSQL the candidate rows are first read `FOR UPDATE SKIP LOCKED`, so
replicas polling together pick different configs instead of queueing on the
same row lock.  Whoever holds the lease owns the config's watermark until it
releases it (or the lease expires after a crash).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy import Engine, event, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import models as m
from . import validate as v
from .db import Repo
from .validate import Conflict, InvalidInput, NotFound

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_ATTR_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,200}$")
FILTER_KEYS = {"service", "model", "span_type", "attributes"}
MIN_INTERVAL_S = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str  # "interval" | "cron"
    expr: str

    def next_after(self, t: datetime) -> datetime:
        if self.kind == "interval":
            return t + timedelta(seconds=interval_seconds(self.expr))
        return croniter(self.expr, t).get_next(datetime)


def interval_seconds(expr: str) -> float:
    m_ = _DURATION.match(expr)
    assert m_ is not None
    return float(m_.group(1)) * _UNITS[m_.group(2)]


def parse_schedule(value: object) -> Schedule:
    """'30s', '5m', '2h', '1d' or plain seconds = an interval; otherwise a
    five-field cron expression (UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("schedule must be an interval such as '30s', '5m', '1h' or a 5-field cron expression")
    expr = value.strip()
    if _DURATION.match(expr):
        if interval_seconds(expr) < MIN_INTERVAL_S:
            raise InvalidInput(f"schedule interval must be at least {MIN_INTERVAL_S:g}s, got {expr!r}")
        return Schedule("interval", expr)
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise InvalidInput(
            f"schedule {expr!r} is neither an interval ('30s', '5m', '1h') nor a valid 5-field cron expression"
        )
    return Schedule("cron", expr)


def sampling_rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"sampling_rate must be a number between 0 and 1, got {value!r}")
    if not 0 <= value <= 1:
        raise InvalidInput(f"sampling_rate must be between 0 and 1, got {value!r}")
    return float(value)


def span_filters(value: object) -> dict[str, Any]:
    """{service, model, span_type, attributes: {key: value}} - all optional."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("filters must be an object with service, model, span_type and/or attributes")
    unknown = set(value) - FILTER_KEYS
    if unknown:
        raise InvalidInput(f"unknown filter(s) {sorted(unknown)}: use {sorted(FILTER_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("service", "model", "span_type"):
        if value.get(key) is not None:
            out[key] = v.text_field(f"filters.{key}", value[key], 200)
    attrs = value.get("attributes") or {}
    if not isinstance(attrs, dict) or not all(isinstance(x, str) for x in attrs.values()):
        raise InvalidInput("filters.attributes must map attribute keys to string values")
    for key in attrs:
        if not _ATTR_KEY.match(key):
            raise InvalidInput(f"filters.attributes: invalid attribute key {key!r}")
    if attrs:
        out["attributes"] = dict(attrs)
    return out


def name_field(field_name: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(f"{field_name} must be 1-100 letters, digits, '_', '-' or '.', got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class EvaluatorConfig:
    id: int
    project_id: str
    name: str
    evaluator: str
    schedule: str
    schedule_kind: str
    sampling_rate: float
    filters: dict[str, Any]
    params: dict[str, Any]
    enabled: bool
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def parsed_schedule(self) -> Schedule:
        return Schedule(self.schedule_kind, self.schedule)


@dataclass(frozen=True, slots=True)
class Watermark:
    ingested_us: int = 0
    trace_id: str = ""
    span_id: str = ""


@dataclass(frozen=True, slots=True)
class EvalRun:
    id: int
    config_id: int
    project_id: str
    kind: str
    status: str
    worker: str
    evaluator_version: str
    spans_read: int
    spans_scored: int
    results_written: int
    attempts: int
    duration_ms: float
    started_at: datetime
    error: str | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class RunCounts:
    spans_read: int = 0
    spans_scored: int = 0
    results_written: int = 0
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def _config(r: m.EvaluatorConfig) -> EvaluatorConfig:
    return EvaluatorConfig(
        id=r.id, project_id=r.project_id, name=r.name, evaluator=r.evaluator, schedule=r.schedule,
        schedule_kind=r.schedule_kind, sampling_rate=r.sampling_rate, filters=dict(r.filters or {}),
        params=dict(r.params or {}), enabled=bool(r.enabled), next_run_at=r.next_run_at, created_at=r.created_at,
        updated_at=r.updated_at,
    )  # fmt: skip


def _run(r: m.EvalRun) -> EvalRun:
    return EvalRun(
        id=r.id, config_id=r.config_id, project_id=r.project_id, kind=r.kind, status=r.status, worker=r.worker,
        evaluator_version=r.evaluator_version, spans_read=r.spans_read, spans_scored=r.spans_scored,
        results_written=r.results_written, attempts=r.attempts, duration_ms=r.duration_ms, started_at=r.started_at,
        error=r.error, finished_at=r.finished_at,
    )  # fmt: skip


class EvaluationRepo(Repo):
    # ---- configs

    def create_config(
        self, project_id: str, *, name: str, evaluator: str, schedule: object = "1m", sampling_rate: object = 1.0,
        filters: object = None, params: object = None, enabled: bool = True,
    ) -> EvaluatorConfig:
        sched = parse_schedule(schedule)
        row = m.EvaluatorConfig(
            project_id=project_id, name=name_field("name", name), evaluator=name_field("evaluator", evaluator),
            schedule_kind=sched.kind, schedule=sched.expr, sampling_rate=globals()["sampling_rate"](sampling_rate),
            filters=span_filters(filters), params=v.json_object("params", params) or {}, enabled=bool(enabled),
            next_run_at=_now() if enabled else None,
        )  # fmt: skip
        try:
            with self._tx() as s:
                if s.get(m.Project, project_id) is None:
                    raise NotFound(f"project {project_id!r} does not exist")
                s.add(row)
                s.flush()
                return _config(row)
        except IntegrityError:
            raise Conflict(f"an evaluator config named {name!r} already exists in this project") from None

    def update_config(self, project_id: str, config_id: int, changes: dict[str, Any]) -> EvaluatorConfig:
        """Apply a partial update; everything is validated before anything is written."""
        allowed = {"schedule", "sampling_rate", "filters", "params", "enabled", "evaluator"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"cannot change {sorted(unknown)}; changeable: {sorted(allowed)}")
        clean: dict[str, Any] = {}
        if "schedule" in changes:
            sched = parse_schedule(changes["schedule"])
            clean.update(schedule_kind=sched.kind, schedule=sched.expr)
        if "sampling_rate" in changes:
            clean["sampling_rate"] = sampling_rate(changes["sampling_rate"])
        if "filters" in changes:
            clean["filters"] = span_filters(changes["filters"])
        if "params" in changes:
            clean["params"] = v.json_object("params", changes["params"]) or {}
        if "evaluator" in changes:
            clean["evaluator"] = name_field("evaluator", changes["evaluator"])
        if "enabled" in changes:
            if not isinstance(changes["enabled"], bool):
                raise InvalidInput("enabled must be true or false")
            clean["enabled"] = changes["enabled"]
        with self._tx() as s:
            row = s.get(m.EvaluatorConfig, config_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"evaluator config {config_id} does not exist in this project")
            for k, val in clean.items():
                setattr(row, k, val)
            # A changed config runs at once (with its new settings); a disabled one never.
            row.next_run_at = _now() if row.enabled else None
            row.updated_at = _now()
            s.flush()
            return _config(row)

    def get_config(self, project_id: str, config_id: int) -> EvaluatorConfig | None:
        with self._tx() as s:
            row = s.get(m.EvaluatorConfig, config_id)
            return None if row is None or row.project_id != project_id else _config(row)

    def find_config(self, project_id: str, name_or_evaluator: str) -> EvaluatorConfig | None:
        """By config name, else the only config of that evaluator."""
        with self._tx() as s:
            rows = list(s.scalars(select(m.EvaluatorConfig).where(m.EvaluatorConfig.project_id == project_id)))
        for r in rows:
            if r.name == name_or_evaluator:
                return _config(r)
        matches = [r for r in rows if r.evaluator == name_or_evaluator]
        return _config(matches[0]) if len(matches) == 1 else None

    def list_configs(self, project_id: str) -> list[EvaluatorConfig]:
        with self._tx() as s:
            q = select(m.EvaluatorConfig).where(m.EvaluatorConfig.project_id == project_id)
            return [_config(r) for r in s.scalars(q.order_by(m.EvaluatorConfig.id))]

    def enabled_configs(self, evaluators: frozenset[str] | set[str]) -> list[EvaluatorConfig]:
        """Every enabled config of these evaluators, in all projects (the
        streaming scorer runs them on fresh spans)."""
        with self._tx() as s:
            q = select(m.EvaluatorConfig).where(m.EvaluatorConfig.enabled.is_(True),
                                                m.EvaluatorConfig.evaluator.in_(sorted(evaluators)))  # fmt: skip
            return [_config(r) for r in s.scalars(q.order_by(m.EvaluatorConfig.id))]

    def delete_config(self, project_id: str, config_id: int) -> bool:
        with self._tx() as s:
            row = s.get(m.EvaluatorConfig, config_id)
            if row is None or row.project_id != project_id:
                return False
            s.delete(row)
            return True

    # ---- claiming runs

    def claim_due(self, worker: str, *, lease_seconds: float, limit: int = 4) -> list[EvaluatorConfig]:
        """Lease up to `limit` enabled configs whose next run is due."""
        now = _now()
        claimed: list[EvaluatorConfig] = []
        with self._tx() as s:
            q = (
                select(m.EvaluatorConfig.id)
                .where(m.EvaluatorConfig.enabled.is_(True), m.EvaluatorConfig.next_run_at <= now)
                .where(or_(m.EvaluatorConfig.lease_until.is_(None), m.EvaluatorConfig.lease_until < now))
                .order_by(m.EvaluatorConfig.next_run_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            for config_id in list(s.scalars(q)):
                res = s.execute(
                    update(m.EvaluatorConfig)
                    .where(m.EvaluatorConfig.id == config_id)
                    .where(or_(m.EvaluatorConfig.lease_until.is_(None), m.EvaluatorConfig.lease_until < now))
                    .values(lease_owner=worker, lease_until=now + timedelta(seconds=lease_seconds))
                )
                if res.rowcount == 1:
                    row = s.get(m.EvaluatorConfig, config_id)
                    assert row is not None
                    claimed.append(_config(row))
        return claimed

    def extend_lease(self, config_id: int, worker: str, lease_seconds: float) -> bool:
        with self._tx() as s:
            res = s.execute(
                update(m.EvaluatorConfig)
                .where(m.EvaluatorConfig.id == config_id, m.EvaluatorConfig.lease_owner == worker)
                .values(lease_until=_now() + timedelta(seconds=lease_seconds))
            )
            return res.rowcount == 1

    def release(self, config_id: int, worker: str, *, run_again_now: bool = False) -> None:
        """Give the lease back and schedule the next run from the config's schedule."""
        with self._tx() as s:
            row = s.get(m.EvaluatorConfig, config_id)
            if row is None or row.lease_owner != worker:
                return
            now = _now()
            row.lease_owner, row.lease_until = None, None
            if row.enabled:
                row.next_run_at = now if run_again_now else Schedule(row.schedule_kind, row.schedule).next_after(now)

    # ---- watermarks

    def watermark(self, config_id: int, version: str) -> Watermark:
        with self._tx() as s:
            row = s.get(m.EvalWatermark, (config_id, version))
            return Watermark() if row is None else Watermark(row.ingested_us, row.trace_id, row.span_id)

    def set_watermark(self, config_id: int, version: str, wm: Watermark) -> None:
        with self._tx() as s:
            row = s.get(m.EvalWatermark, (config_id, version))
            if row is None:
                s.add(m.EvalWatermark(config_id=config_id, evaluator_version=version, ingested_us=wm.ingested_us,
                                      trace_id=wm.trace_id, span_id=wm.span_id))  # fmt: skip
            else:
                row.ingested_us, row.trace_id, row.span_id, row.updated_at = (
                    wm.ingested_us, wm.trace_id, wm.span_id, _now())  # fmt: skip

    # ---- runs

    def start_run(self, config: EvaluatorConfig, kind: str, worker: str, version: str) -> int:
        with self._tx() as s:
            row = m.EvalRun(config_id=config.id, project_id=config.project_id, kind=kind, status="running",
                            worker=worker, evaluator_version=version, started_at=_now())  # fmt: skip
            s.add(row)
            s.flush()
            return row.id

    def finish_run(self, run_id: int, status: str, counts: RunCounts, duration_ms: float, error: str | None = None) -> None:
        with self._tx() as s:
            row = s.get(m.EvalRun, run_id)
            if row is None:
                return
            row.status, row.error, row.finished_at, row.duration_ms = status, error, _now(), duration_ms
            row.spans_read, row.spans_scored = counts.spans_read, counts.spans_scored
            row.results_written, row.attempts = counts.results_written, counts.attempts

    def list_runs(self, project_id: str, *, config_id: int | None = None, limit: int = 100) -> list[EvalRun]:
        q = select(m.EvalRun).where(m.EvalRun.project_id == project_id)
        if config_id is not None:
            q = q.where(m.EvalRun.config_id == config_id)
        with self._tx() as s:
            return [_run(r) for r in s.scalars(q.order_by(m.EvalRun.id.desc()).limit(limit))]


def immediate_sqlite_transactions(engine: Engine) -> Engine:
    """On SQLite, start every transaction of `engine` with BEGIN IMMEDIATE.

    The worker's transactions read, then write (claim a config, move a
    watermark).  A deferred SQLite transaction that upgrades from reading to
    writing after another connection wrote fails at once with "database is
    locked" (the busy timeout does not apply to that case); taking the write
    lock up front makes it wait its turn instead.  Readers are not blocked
    (WAL).  No effect on other databases."""
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver would otherwise BEGIN on its own

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
