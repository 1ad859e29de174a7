"""ORM tables of the metadata store (projects, API keys, price overrides, jobs).

Only `repo.py` uses these classes; everything else gets the plain records of
`types.py`.  The schema itself is owned by the Alembic history in
`alembic/versions/`; keep both in step (tests compare them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .sqltypes import JSON_, Money, UtcDateTime

# Deterministic constraint names: Alembic can then drop/alter them by name on
# Postgres and rebuild them in SQLite batch mode.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATUSES = ("queued", "running", "succeeded", "failed")
SLUG_LEN = 63


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime, Decimal: Money, dict[str, Any]: JSON_}


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (CheckConstraint("retention_days > 0", name="retention_days_positive"),)

    id: Mapped[str] = mapped_column(String(SLUG_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    retention_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    # SamplingRules as JSON; NULL = keep every trace's content.
    sampling: Mapped[dict[str, Any] | None]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(100))
    # sha256 hex of the whole key; the key itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ModelPrice(Base):
    __tablename__ = "model_prices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    model_pattern: Mapped[str] = mapped_column(String(500))
    provider: Mapped[str | None] = mapped_column(String(100))
    valid_from: Mapped[datetime | None]
    input_per_mtok: Mapped[Decimal | None]
    output_per_mtok: Mapped[Decimal | None]
    cache_read_per_mtok: Mapped[Decimal | None]
    cache_write_per_mtok: Mapped[Decimal | None]
    reasoning_per_mtok: Mapped[Decimal | None]
    gpu_hour_usd: Mapped[Decimal | None]
    tokens_per_second: Mapped[Decimal | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="status_valid"
        ),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        Index("ix_jobs_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


# ---- evaluation worker, alerts and hooks (revision 0002_evaluation_worker)

SCHEDULE_KINDS = ("interval", "cron")
COMPARISONS = (">", ">=", "<", "<=")
BUDGET_PERIODS = ("day", "month")
HOOK_KINDS = ("webhook", "slack", "alertmanager")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class EvaluatorConfig(Base):
    """One evaluator turned on for a project: what runs, on which spans, when.
    `next_run_at` and the lease make each run happen once across replicas."""

    __tablename__ = "evaluator_configs"
    __table_args__ = (
        CheckConstraint("schedule_kind IN ('interval', 'cron')", name="schedule_kind_valid"),
        CheckConstraint("sampling_rate >= 0 AND sampling_rate <= 1", name="sampling_rate_range"),
        UniqueConstraint("project_id", "name"),
        Index("ix_evaluator_configs_due", "enabled", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    evaluator: Mapped[str] = mapped_column(String(100))
    schedule_kind: Mapped[str] = mapped_column(String(16))
    schedule: Mapped[str] = mapped_column(String(200))
    sampling_rate: Mapped[float] = mapped_column(Float, default=1.0)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class EvalWatermark(Base):
    """The last span (in ingest order) an evaluator version has scored."""

    __tablename__ = "eval_watermarks"

    config_id: Mapped[int] = mapped_column(
        ForeignKey("evaluator_configs.id", ondelete="CASCADE"), primary_key=True
    )
    evaluator_version: Mapped[str] = mapped_column(String(100), primary_key=True)
    ingested_us: Mapped[int] = mapped_column(BigInteger, default=0)
    trace_id: Mapped[str] = mapped_column(String(32), default="")
    span_id: Mapped[str] = mapped_column(String(16), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class EvalRun(Base):
    """One run of an evaluator config (scheduled or backfill): the job history."""

    __tablename__ = "eval_runs"
    __table_args__ = (Index("ix_eval_runs_project_id_started_at", "project_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    config_id: Mapped[int] = mapped_column(ForeignKey("evaluator_configs.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str] = mapped_column(String(100))
    evaluator_version: Mapped[str] = mapped_column(String(100), default="")
    spans_read: Mapped[int] = mapped_column(Integer, default=0)
    spans_scored: Mapped[int] = mapped_column(Integer, default=0)
    results_written: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None]


class Hook(Base):
    """Where notifications go: a signed JSON webhook, a Slack incoming webhook or
    an Alertmanager's /api/v2/alerts (revision 0007_alerting)."""

    __tablename__ = "hooks"
    __table_args__ = (
        CheckConstraint("kind IN ('webhook', 'slack', 'alertmanager')", name="kind_valid"),
        UniqueConstraint("project_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Delivery(Base):
    """An outbox row per (hook, notification): the unique dedupe key makes one
    alert transition one notification, however many evaluators see it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_valid"),
        UniqueConstraint("hook_id", "dedupe_key"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_deliveries_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hook_id: Mapped[int] = mapped_column(ForeignKey("hooks.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    delivered_at: Mapped[datetime | None]


class AlertRule(Base):
    """A threshold on a metric the API serves, over a sliding window."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        CheckConstraint("comparison IN ('>', '>=', '<', '<=')", name="comparison_valid"),
        CheckConstraint("window_seconds > 0", name="window_positive"),
        CheckConstraint("cooldown_seconds >= 0", name="cooldown_not_negative"),
        UniqueConstraint("project_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    comparison: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    window_seconds: Mapped[int] = mapped_column(Integer)
    group_by: Mapped[str | None] = mapped_column(String(210))
    cooldown_seconds: Mapped[int] = mapped_column(Integer, default=0)
    notify_resolve: Mapped[bool] = mapped_column(Boolean, default=True)
    hook_ids: Mapped[list[Any]] = mapped_column(JSON_, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Budget(Base):
    """A spending limit for a project, a user or any attribute value, per day or month."""

    __tablename__ = "budgets"
    __table_args__ = (
        CheckConstraint("period IN ('day', 'month')", name="period_valid"),
        UniqueConstraint("project_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(210))  # "project", "user", "attr:<key>"
    scope_value: Mapped[str] = mapped_column(String(500), default="")
    period: Mapped[str] = mapped_column(String(8))
    limit_usd: Mapped[Decimal] = mapped_column()
    thresholds: Mapped[list[Any]] = mapped_column(JSON_, default=list)
    hook_ids: Mapped[list[Any]] = mapped_column(JSON_, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class AlertState(Base):
    """Where a rule (per group) or a budget (per period) stands now.  The
    transition is written in the same transaction that enqueues its
    notification, so a transition is announced exactly once."""

    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # "rule:<id>:<group>" / "budget:<id>:<period>"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # ok | firing (rules); highest level reached (budgets)
    value: Mapped[float | None] = mapped_column(Float)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    last_notified_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertEvent(Base):
    """Firing history: each transition of a rule or a budget."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_project_id_at", "project_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    budget_id: Mapped[int | None] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"))
    group_key: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved | budget_50 | ...
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ReplayVariant(Base):
    """A named replay target of a project (a pool of OpenAI-compatible
    servers, a model, overrides), saved through the API for reuse."""

    __tablename__ = "replay_variants"
    __table_args__ = (Index("ix_replay_variants_project_id_name", "project_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class ReplayRun(Base):
    """One replay (or shadow) run: what was selected, against which variants,
    with which options; the job that executes it and its latest summary."""

    __tablename__ = "replay_runs"
    __table_args__ = (Index("ix_replay_runs_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="replay", server_default="replay")
    selection: Mapped[dict[str, Any]] = mapped_column(default=dict)
    variants: Mapped[dict[str, Any]] = mapped_column(default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str | None] = mapped_column(String(36))
    summary: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class ReplayShadow(Base):
    """The live state of a shadow loop (its run holds the configuration):
    whether it should run, how far through new traffic it got, its open
    window and counters, and which server runs it.  A server claims active
    rows whose lease has lapsed, so loops come back after a restart (or on
    another replica after a crash) and continue from their watermark."""

    __tablename__ = "replay_shadows"
    __table_args__ = (Index("ix_replay_shadows_active_lease_until", "active", "lease_until"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("replay_runs.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    after_ns: Mapped[int] = mapped_column(BigInteger)
    window_start_ns: Mapped[int] = mapped_column(BigInteger)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
