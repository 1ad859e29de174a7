"""Initial metadata schema: projects, api_keys, model_prices, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from storage.metadata.sqltypes import JSON_, Money, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", UtcDateTime(), server_default=sa.func.now(), nullable=False)


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"],
        ["projects.id"],
        name=op.f(f"fk_{table}_project_id_projects"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _created_at(),
        sa.Column("retention_days", sa.Integer(), server_default="30", nullable=False),
        sa.CheckConstraint("retention_days > 0", name=op.f("ck_projects_retention_days_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _created_at(),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        _project_fk("api_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_project_id"), "api_keys", ["project_id"])
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("model_pattern", sa.String(500), nullable=False),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("valid_from", UtcDateTime(), nullable=True),
        *(
            sa.Column(name, Money(), nullable=True)
            for name in (
                "input_per_mtok",
                "output_per_mtok",
                "cache_read_per_mtok",
                "cache_write_per_mtok",
                "reasoning_per_mtok",
                "gpu_hour_usd",
                "tokens_per_second",
            )
        ),
        _created_at(),
        _project_fk("model_prices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
    )
    op.create_index(op.f("ix_model_prices_project_id"), "model_prices", ["project_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("params", JSON_, nullable=False),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("result", JSON_, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_jobs_status_valid"),
        ),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_jobs_progress_range")),
        _project_fk("jobs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_project_id_created_at", "jobs", ["project_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_project_id_created_at", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_model_prices_project_id"), table_name="model_prices")
    op.drop_table("model_prices")
    op.drop_index(op.f("ix_api_keys_project_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("projects")
