"""The contract between the evaluation worker and the scorers.

The worker (scheduling, watermarks, storage of results, alerts) and the scorers
(PII, grounding, judge-based faithfulness, drift) are built separately; they
meet only here.  A scorer sees plain records, never a database: that keeps the
scorers testable on their own and lets the worker batch, sample and retry
without knowing what a scorer does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One stored span as evaluators see it (a subset of the canonical columns).

    ``input_messages`` / ``output_messages`` / ``system_instructions`` are the
    semconv v1.37 parts shape already parsed from JSON (lists of
    ``{"role": ..., "parts": [{"type": "text", "content": ...}, ...]}``).
    ``context`` holds the texts an answer should be grounded in: documents
    retrieved in the same trace, tool results, or a context attribute.
    """

    project_id: str
    trace_id: str
    span_id: str
    start_time_ns: int
    service_name: str = ""
    span_type: str = ""
    operation: str = ""
    provider: str = ""
    model: str = ""
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    output_messages: list[dict[str, Any]] = field(default_factory=list)
    system_instructions: list[dict[str, Any]] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ms: float = 0.0
    ttft_ms: float | None = None
    cost_total: float | None = None
    finish_reasons: list[str] = field(default_factory=list)
    error_type: str = ""
    status_code: int = 0
    tool_names: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def input_text(self) -> str:
        return messages_text(self.input_messages)

    @property
    def output_text(self) -> str:
        return messages_text(self.output_messages)


def messages_text(messages: Sequence[dict[str, Any]]) -> str:
    """The text parts of a parts-shaped message list, joined by newlines."""
    out: list[str] = []
    for msg in messages:
        for part in msg.get("parts") or ():
            if part.get("type") == "text" and part.get("content"):
                out.append(str(part["content"]))
            elif part.get("type") == "tool_call_response" and part.get("response") is not None:
                out.append(str(part["response"]))
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class EvalResult:
    """One score for one span.  ``details`` is JSON-serialisable and must never
    carry the text a PII scorer matched (types, counts, offsets and scores only)."""

    trace_id: str
    span_id: str
    evaluator: str
    version: str
    metric: str
    score: float | None
    label: str = ""
    explanation: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SpanEvaluator(Protocol):
    """Scores spans one batch at a time.  ``version`` changes whenever scores
    would change, so the worker rescores a span once per evaluator version."""

    name: str
    version: str

    def wants(self, span: SpanRecord) -> bool: ...

    def evaluate(self, spans: Sequence[SpanRecord]) -> list[EvalResult]: ...


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One baseline-vs-current comparison for one feature of one model."""

    feature: str  # e.g. "prompt_embedding", "input_tokens", "finish_reasons"
    kind: str  # "embedding" | "numeric" | "categorical"
    test: str  # e.g. "mmd_permutation", "ks", "psi", "chi2"
    statistic: float
    p_value: float | None
    effect_size: float | None
    drifted: bool
    baseline_n: int
    current_n: int
    details: dict[str, Any] = field(default_factory=dict)
    model: str = ""  # the model compared ("*" for the model mix across all models)


@runtime_checkable
class WindowEvaluator(Protocol):
    """Compares two windows of spans (drift)."""

    name: str
    version: str

    def compare(self, baseline: Sequence[SpanRecord], current: Sequence[SpanRecord]) -> list[DriftResult]: ...
