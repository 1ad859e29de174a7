"""Plain records that cross the storage boundary (no ORM objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

JobStatus = Literal["queued", "running", "succeeded", "failed"]


@dataclass(slots=True, frozen=True)
class PriceOverride:
    """A user price for a model, checked before the built-in price database.

    `model_pattern` is a regular expression matched in full against the
    response model (else the request model).  Token prices are USD per million
    tokens.  A self-hosted model instead gives `gpu_hour_usd` and the
    throughput it sustains (`tokens_per_second`, input and output alike): its
    cost per token is gpu_hour_usd / 3600 / tokens_per_second.
    """

    id: int
    project_id: str
    model_pattern: str
    provider: str | None = None
    valid_from: datetime | None = None
    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    gpu_hour_usd: Decimal | None = None
    tokens_per_second: Decimal | None = None
    created_at: datetime | None = None


@dataclass(slots=True, frozen=True)
class SamplingRules:
    """Which traces keep their content (messages, raw attributes, span events).

    Sampling never drops an LLM call: a sampled-out span is stored with its
    canonical numbers (tokens, cost, latency, status) and without its heavy
    parts, so usage and cost totals stay exact.  Ordinary traces are kept by a
    hash of the trace id (the same decision in every batch and on every server
    replica); traces with an error, a slow span or a PII finding always keep
    their content.
    """

    keep_share: float = 1.0  # 0..1 of ordinary traces that keep their content
    keep_errors: bool = True
    slow_ms: float | None = None  # a span at least this slow keeps its trace
    keep_pii: bool = True  # a trace whose content holds PII keeps it (collector/pii_screen.py)

    @property
    def keeps_everything(self) -> bool:
        return self.keep_share >= 1.0


@dataclass(slots=True, frozen=True)
class Project:
    """A tenant: every span, key, price and job belongs to one project."""

    id: str  # slug, e.g. "default"; appears in API keys and URLs
    name: str
    created_at: datetime
    retention_days: int = 30
    sampling: SamplingRules = SamplingRules()


@dataclass(slots=True, frozen=True)
class ApiKeyInfo:
    """What may be shown about an API key: never the key or its hash."""

    id: int
    project_id: str
    name: str
    prefix: str  # the start of the key, enough for a user to recognise it
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(slots=True, frozen=True)
class Job:
    """A background task (e.g. "reprice") and how far it got."""

    id: str
    project_id: str
    kind: str
    params: dict[str, Any]
    status: JobStatus
    progress: float
    created_at: datetime
    result: dict[str, Any] | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
