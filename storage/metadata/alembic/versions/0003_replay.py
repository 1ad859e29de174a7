"""Replay metadata: saved variants and replay runs.

Revision ID: 0003_replay
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.metadata.sqltypes import JSON_, UtcDateTime

revision: str = "0003_replay"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"], ["projects.id"], name=op.f(f"fk_{table}_project_id_projects"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "replay_variants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("config", JSON_, nullable=False),
        sa.Column("created_at", UtcDateTime(), server_default=sa.func.now(), nullable=False),
        _project_fk("replay_variants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replay_variants")),
    )
    op.create_index("ix_replay_variants_project_id_name", "replay_variants", ["project_id", "name"], unique=True)
    op.create_table(
        "replay_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), server_default="replay", nullable=False),
        sa.Column("selection", JSON_, nullable=False),
        sa.Column("variants", JSON_, nullable=False),
        sa.Column("options", JSON_, nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("summary", JSON_, nullable=True),
        sa.Column("created_at", UtcDateTime(), server_default=sa.func.now(), nullable=False),
        _project_fk("replay_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replay_runs")),
    )
    op.create_index("ix_replay_runs_project_id_created_at", "replay_runs", ["project_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_replay_runs_project_id_created_at", table_name="replay_runs")
    op.drop_table("replay_runs")
    op.drop_index("ix_replay_variants_project_id_name", table_name="replay_variants")
    op.drop_table("replay_variants")
