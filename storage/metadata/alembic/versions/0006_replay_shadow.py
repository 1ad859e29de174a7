"""Shadow loops' live state, so they restart after a server restart.

Revision ID: 0006_replay_shadow
Revises: 0003_replay
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.metadata.sqltypes import JSON_, UtcDateTime

revision: str = "0006_replay_shadow"
down_revision: str | None = "0003_replay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replay_shadows",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("after_ns", sa.BigInteger(), nullable=False),
        sa.Column("window_start_ns", sa.BigInteger(), nullable=False),
        sa.Column("stats", JSON_, nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["replay_runs.id"], name=op.f("fk_replay_shadows_run_id_replay_runs"),
                                ondelete="CASCADE"),  # fmt: skip
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_replay_shadows_project_id_projects"),
                                ondelete="CASCADE"),  # fmt: skip
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_replay_shadows")),
    )
    op.create_index("ix_replay_shadows_active_lease_until", "replay_shadows", ["active", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_replay_shadows_active_lease_until", table_name="replay_shadows")
    op.drop_table("replay_shadows")
