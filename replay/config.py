"""What a replay runs against and how: variants (a pool of OpenAI-compatible
servers with a model and overrides), run options and verdict thresholds.
One YAML file (`llmobs replay run --variants v.yaml`) or the API body carries
all three; pydantic validates them once, at the boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    base_urls: list[str] = Field(min_length=1, description="OpenAI-compatible base URLs (…/v1): the pool")
    model: str = Field(min_length=1)
    api_key: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="overrides: temperature, max_tokens, ...")
    system_prompt: str | None = Field(default=None, description="replaces the captured system instructions")
    gpu_hour_usd: float | None = Field(default=None, ge=0, description="self-hosted cost of one GPU-hour")
    gpus: int = Field(default=1, ge=1, description="GPUs the pool holds (for the self-hosted cost)")

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
        return [u.rstrip("/") for u in v]


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(default=8, ge=1, le=1024)
    timing: Literal["fast", "qps", "original"] = "fast"
    qps: float | None = Field(default=None, gt=0)
    time_scale: float = Field(default=1.0, gt=0, description="original timing: 2.0 replays twice as fast")
    temperature_zero: bool = Field(default=False, description="send temperature 0 (greedy) for determinism")
    seed: int | None = Field(default=None, description="send this seed with every request")
    max_tokens: int | None = Field(default=None, ge=1, description="cap (and default) for max_tokens")
    timeout_seconds: float = Field(default=120.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0)
    health_interval_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _qps(self) -> "RunOptions":
        if self.timing == "qps" and self.qps is None:
            raise ValueError("timing 'qps' needs qps")
        return self


class Thresholds(BaseModel):
    """A candidate fails when any of these is crossed (relative to the baseline)."""

    model_config = ConfigDict(extra="forbid")

    max_p95_latency_increase: float = Field(default=0.10, description="e2e p95, fraction of the baseline's")
    min_agreement: float = Field(default=0.9, ge=0, le=1, description="mean agreement with the baseline")
    agreement_metric: Literal["rouge_l", "exact_match", "embedding_cosine"] = Field(
        default="rouge_l", description="which agreement measure min_agreement applies to")
    max_error_rate: float = Field(default=0.05, ge=0, le=1)


class ReportOptions(BaseModel):
    """What the report computes beyond latency, cost and text agreement."""

    model_config = ConfigDict(extra="forbid")

    embedding_cosine: bool = Field(default=True, description="MiniLM cosine agreement (needs llmobs[evaluators])")
    evaluators: list[str] = Field(default_factory=lambda: ["pii", "grounding"],
                                  description="scorers run on the replayed outputs when installed")  # fmt: skip

    @field_validator("evaluators")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from replay.scoring import check_names

        check_names(v)  # raises ValueError (UnknownScorer) naming the known ones
        return list(dict.fromkeys(v))


class ReplaySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variants: list[Variant] = Field(min_length=1)
    baseline: str | None = Field(default=None, description="the variant the others are compared with (default: first)")
    options: RunOptions = Field(default_factory=RunOptions)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    report: ReportOptions = Field(default_factory=ReportOptions)

    @model_validator(mode="after")
    def _names(self) -> "ReplaySpec":
        if self.thresholds.agreement_metric == "embedding_cosine" and not self.report.embedding_cosine:
            raise ValueError("thresholds.agreement_metric embedding_cosine needs report.embedding_cosine true")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        if self.baseline is None:
            self.baseline = names[0]
        elif self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not one of the variants {names}")
        return self

    def ordered(self) -> list[Variant]:
        """Baseline first: candidates are then measured after it, on warm servers alike."""
        return sorted(self.variants, key=lambda v: v.name != self.baseline)


def load_spec(path: str | Path) -> ReplaySpec:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with a 'variants' list")
    return ReplaySpec.model_validate(data)
