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
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
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
