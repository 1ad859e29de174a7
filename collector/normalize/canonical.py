"""The canonical GenAI record: one per span, whatever dialect produced it.

Every later stage (pricing, storage, evaluators, replay, dashboard) reads these
fields and nothing dialect-specific, so a new instrumentation only ever touches
one dialect module.  Messages use the OTel GenAI semconv v1.37 "parts" shape:

    {"role": "user"|"assistant"|"system"|"tool", "parts": [
        {"type": "text", "content": "..."},
        {"type": "tool_call", "id": "...", "name": "...", "arguments": {...}},
        {"type": "tool_call_response", "id": "...", "response": ...},
        {"type": "reasoning", "content": "..."}, ...],
     "finish_reason": "stop"}            # output messages only
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any


class SpanType(str, Enum):
    LLM = "llm"
    EMBEDDING = "embedding"
    TOOL = "tool"
    AGENT = "agent"
    RETRIEVER = "retriever"
    CHAIN = "chain"
    OTHER = "other"


@dataclass(slots=True)
class TokenUsage:
    """Token counts exactly as the span reported them (None = not reported).

    Conventions disagree on overlap: OpenAI's prompt_tokens include cached
    tokens, Anthropic's input_tokens exclude cache reads and writes; OpenAI's
    completion_tokens include reasoning, Gemini's candidates count excludes
    thoughts.  `input_includes_cache` / `output_includes_reasoning` record which
    convention the *sender* used, so `split()` can produce a non-overlapping
    breakdown without guessing twice.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    input_includes_cache: bool = True
    output_includes_reasoning: bool = True

    def is_empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.input_tokens,
                self.output_tokens,
                self.cache_read_tokens,
                self.cache_write_tokens,
                self.reasoning_tokens,
                self.total_tokens,
            )
        )

    def split(self) -> "TokenSplit":
        cache_read = self.cache_read_tokens or 0
        cache_write = self.cache_write_tokens or 0
        reasoning = self.reasoning_tokens or 0
        inp = self.input_tokens or 0
        out = self.output_tokens or 0
        if self.input_includes_cache:
            uncached = max(inp - cache_read - cache_write, 0)
        else:
            uncached = inp
        if self.output_includes_reasoning:
            text_out = max(out - reasoning, 0)
        else:
            text_out = out
        return TokenSplit(uncached, cache_read, cache_write, text_out, reasoning)


@dataclass(slots=True, frozen=True)
class TokenSplit:
    """Non-overlapping token buckets: their sum is what the provider bills."""

    input_uncached: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output_text: int = 0
    reasoning: int = 0

    @property
    def input_total(self) -> int:
        return self.input_uncached + self.cache_read + self.cache_write

    @property
    def output_total(self) -> int:
        return self.output_text + self.reasoning


@dataclass(slots=True)
class GenAIFields:
    """What a dialect module extracts from one span's attributes (pure data).

    A dialect fills only what it knows; `None` means "not reported", never 0.
    """

    span_type: SpanType = SpanType.OTHER
    operation: str | None = None  # chat, text_completion, embeddings, execute_tool, invoke_agent, ...
    provider: str | None = None  # canonical provider id (see providers.py)
    request_model: str | None = None
    response_model: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    time_to_first_token_s: float | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stream: bool | None = None
    finish_reasons: list[str] = field(default_factory=list)
    response_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    output_messages: list[dict[str, Any]] = field(default_factory=list)
    system_instructions: list[dict[str, Any]] = field(default_factory=list)
    tool_definitions: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)  # {"id","content","score","metadata"}
    provider_cost_usd: Decimal | None = None
    tool_name: str | None = None
    agent_name: str | None = None
    # False when the span repeats usage that a nested span reports (e.g. the
    # Vercel AI SDK's ai.generateText wrapping ai.generateText.doGenerate).
    counts_usage: bool = True


@dataclass(slots=True)
class CanonicalSpan:
    """One normalised span, ready to price and store."""

    project_id: str
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    parent_span_id: str  # "" for a root
    name: str
    kind: int  # OTLP SpanKind number
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    error_type: str
    service_name: str
    scope_name: str
    scope_version: str
    dialect: str
    genai: GenAIFields
    resource_attributes: dict[str, str]
    span_attributes: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)  # {"time_ns","name","attributes"}
    links: list[dict[str, Any]] = field(default_factory=list)
    content_kept: bool = True  # False once ingest sampling thinned it (collector/sampling.py)
    # The engine may build span_attributes from the wire values (no float,
    # array, kvlist or bytes value, no repeated key): see collector/frames.py.
    attributes_plain: bool = False
    resource_index: int = 0  # which ResourceSpans of its export it came from

    @property
    def duration_ns(self) -> int:
        return max(self.end_ns - self.start_ns, 0)
