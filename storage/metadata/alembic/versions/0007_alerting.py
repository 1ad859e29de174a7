"""Hooks may post to an Alertmanager: the hook kind 'alertmanager' joins
'webhook' and 'slack'.

Revision ID: 0007_alerting
Revises: 0006_replay_shadow
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_alerting"
down_revision: str | None = "0006_replay_shadow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _kinds(allowed: str) -> None:
    # batch mode: SQLite cannot alter a CHECK constraint in place
    with op.batch_alter_table("hooks", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_hooks_kind_valid"), type_="check")
        batch.create_check_constraint(op.f("ck_hooks_kind_valid"), f"kind IN ({allowed})")


def upgrade() -> None:
    _kinds("'webhook', 'slack', 'alertmanager'")


def downgrade() -> None:
    op.execute("DELETE FROM hooks WHERE kind = 'alertmanager'")
    _kinds("'webhook', 'slack'")
