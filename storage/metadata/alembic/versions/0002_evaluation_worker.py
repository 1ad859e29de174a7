"""Evaluation worker, alerts and hooks: evaluator configs, watermarks, run
history, hooks and their delivery outbox, alert rules, budgets, alert state
and firing history.

Revision ID: 0002_evaluation_worker
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.metadata.sqltypes import JSON_, Money, UtcDateTime

revision: str = "0002_evaluation_worker"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alert_rules',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('metric', sa.String(length=64), nullable=False),
    sa.Column('params', JSON_, nullable=False),
    sa.Column('comparison', sa.String(length=2), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('window_seconds', sa.Integer(), nullable=False),
    sa.Column('group_by', sa.String(length=210), nullable=True),
    sa.Column('cooldown_seconds', sa.Integer(), nullable=False),
    sa.Column('notify_resolve', sa.Boolean(), nullable=False),
    sa.Column('hook_ids', JSON_, nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("comparison IN ('>', '>=', '<', '<=')", name=op.f('ck_alert_rules_comparison_valid')),
    sa.CheckConstraint('cooldown_seconds >= 0', name=op.f('ck_alert_rules_cooldown_not_negative')),
    sa.CheckConstraint('window_seconds > 0', name=op.f('ck_alert_rules_window_positive')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_alert_rules_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_alert_rules_project_id_name'))
    )
    op.create_table('alert_states',
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('since', UtcDateTime(), nullable=False),
    sa.Column('last_notified_at', UtcDateTime(), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_alert_states_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_alert_states'))
    )
    op.create_index(op.f('ix_alert_states_project_id'), 'alert_states', ['project_id'], unique=False)
    op.create_table('budgets',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('scope', sa.String(length=210), nullable=False),
    sa.Column('scope_value', sa.String(length=500), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('limit_usd', Money(), nullable=False),
    sa.Column('thresholds', JSON_, nullable=False),
    sa.Column('hook_ids', JSON_, nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("period IN ('day', 'month')", name=op.f('ck_budgets_period_valid')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_budgets_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budgets')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_budgets_project_id_name'))
    )
    op.create_table('evaluator_configs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('evaluator', sa.String(length=100), nullable=False),
    sa.Column('schedule_kind', sa.String(length=16), nullable=False),
    sa.Column('schedule', sa.String(length=200), nullable=False),
    sa.Column('sampling_rate', sa.Float(), nullable=False),
    sa.Column('filters', JSON_, nullable=False),
    sa.Column('params', JSON_, nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('next_run_at', UtcDateTime(), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', UtcDateTime(), nullable=True),
    sa.Column('created_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("schedule_kind IN ('interval', 'cron')", name=op.f('ck_evaluator_configs_schedule_kind_valid')),
    sa.CheckConstraint('sampling_rate >= 0 AND sampling_rate <= 1', name=op.f('ck_evaluator_configs_sampling_rate_range')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_evaluator_configs_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluator_configs')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_evaluator_configs_project_id_name'))
    )
    op.create_index('ix_evaluator_configs_due', 'evaluator_configs', ['enabled', 'next_run_at'], unique=False)
    op.create_table('hooks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("kind IN ('webhook', 'slack')", name=op.f('ck_hooks_kind_valid')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_hooks_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hooks')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_hooks_project_id_name'))
    )
    op.create_table('alert_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('budget_id', sa.Integer(), nullable=True),
    sa.Column('group_key', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=300), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['budget_id'], ['budgets.id'], name=op.f('fk_alert_events_budget_id_budgets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_alert_events_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_alert_events_rule_id_alert_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events'))
    )
    op.create_index('ix_alert_events_project_id_at', 'alert_events', ['project_id', 'at'], unique=False)
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hook_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('dedupe_key', sa.String(length=300), nullable=False),
    sa.Column('payload', JSON_, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UtcDateTime(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('delivered_at', UtcDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_deliveries_status_valid')),
    sa.ForeignKeyConstraint(['hook_id'], ['hooks.id'], name=op.f('fk_deliveries_hook_id_hooks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_deliveries_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('hook_id', 'dedupe_key', name=op.f('uq_deliveries_hook_id_dedupe_key'))
    )
    op.create_index('ix_deliveries_project_id_created_at', 'deliveries', ['project_id', 'created_at'], unique=False)
    op.create_index('ix_deliveries_status_next_attempt_at', 'deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_table('eval_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('config_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('worker', sa.String(length=100), nullable=False),
    sa.Column('evaluator_version', sa.String(length=100), nullable=False),
    sa.Column('spans_read', sa.Integer(), nullable=False),
    sa.Column('spans_scored', sa.Integer(), nullable=False),
    sa.Column('results_written', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('finished_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['config_id'], ['evaluator_configs.id'], name=op.f('fk_eval_runs_config_id_evaluator_configs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_eval_runs_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_runs'))
    )
    op.create_index(op.f('ix_eval_runs_config_id'), 'eval_runs', ['config_id'], unique=False)
    op.create_index('ix_eval_runs_project_id_started_at', 'eval_runs', ['project_id', 'started_at'], unique=False)
    op.create_table('eval_watermarks',
    sa.Column('config_id', sa.Integer(), nullable=False),
    sa.Column('evaluator_version', sa.String(length=100), nullable=False),
    sa.Column('ingested_us', sa.BigInteger(), nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=False),
    sa.Column('updated_at', UtcDateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['config_id'], ['evaluator_configs.id'], name=op.f('fk_eval_watermarks_config_id_evaluator_configs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('config_id', 'evaluator_version', name=op.f('pk_eval_watermarks'))
    )


def downgrade() -> None:
    op.drop_table('eval_watermarks')
    op.drop_index('ix_eval_runs_project_id_started_at', table_name='eval_runs')
    op.drop_index(op.f('ix_eval_runs_config_id'), table_name='eval_runs')
    op.drop_table('eval_runs')
    op.drop_index('ix_deliveries_status_next_attempt_at', table_name='deliveries')
    op.drop_index('ix_deliveries_project_id_created_at', table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_index('ix_alert_events_project_id_at', table_name='alert_events')
    op.drop_table('alert_events')
    op.drop_table('hooks')
    op.drop_index('ix_evaluator_configs_due', table_name='evaluator_configs')
    op.drop_table('evaluator_configs')
    op.drop_table('budgets')
    op.drop_index(op.f('ix_alert_states_project_id'), table_name='alert_states')
    op.drop_table('alert_states')
    op.drop_table('alert_rules')
