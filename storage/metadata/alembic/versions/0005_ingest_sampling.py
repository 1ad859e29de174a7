"""Per-project ingest sampling rules (which traces keep their content).

Revision ID: 0005
Revises: 0002_evaluation_worker
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.metadata.sqltypes import JSON_

revision: str = "0005"
down_revision: str | None = "0002_evaluation_worker"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("sampling", JSON_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("sampling")
