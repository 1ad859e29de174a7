"""Ingest sampling: which traces keep their content, decided before storage.

Sampling drops only the heavy parts of a span (messages, system
instructions, tool definitions, documents, span events, and raw attributes
that hold content or are long); the span itself is always stored with its
canonical numbers, so tokens, cost, latency and error counts stay exact.

The decision for an ordinary trace is a hash of its trace id, so every batch
of a trace, on every server replica, decides the same way.  A trace with an
error, a slow span or a PII finding (collector/pii_screen.py: e-mail, SSN,
card, IBAN, IP, phone) in the same export always keeps its content.  (Spans of
that trace exported earlier, before the error was known, follow the hash: a
collector cannot keep what it has already thinned without buffering traces.)
GenAI log events (gen_ai.*.message, gen_ai.choice) travel on their own and
often arrive before their span, so their content follows the hash alone;
evaluation results are never dropped.
"""

from __future__ import annotations

import hashlib
import re

from collector import pii_screen
from collector.normalize.canonical import CanonicalSpan
from storage.metadata.types import SamplingRules

STATUS_ERROR = 2
# Raw attribute values longer than this are content-sized and are dropped with it.
MAX_KEPT_VALUE_CHARS = 256
# Attribute keys that carry prompts, completions, tool payloads or documents in
# the dialects llmobs understands (collector/normalize/dialects/).
CONTENT_KEY = re.compile(
    r"^(?:"
    r"gen_ai\.(?:input\.messages|output\.messages|system_instructions|tool\.definitions"
    r"|tool\.call\.arguments|tool\.call\.result|prompt|completion)(?:\..*)?"
    r"|gen_ai\.content\..*"
    r"|llm\.(?:input_messages|output_messages|prompts?|prompt_template|tools)(?:\..*)?"
    r"|(?:input|output)\.value"
    r"|retrieval\.documents\..*\.document\.content"
    r"|ai\.prompt(?:\..*)?|ai\.response\.(?:text|toolCalls|object|reasoning.*)|ai\.toolCall\.(?:args|result)"
    r"|traceloop\.entity\.(?:input|output)"
    r"|pydantic_ai\.all_messages|all_messages_events|final_result"
    r")$"
)


def trace_kept_by_hash(trace_id_hex: str, share: float) -> bool:
    """The share rule: blake2b-64 of the trace id's 16 bytes, as a fraction of
    2**64, below `share`.  Stable across processes and releases."""
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    try:
        raw = bytes.fromhex(trace_id_hex)
    except ValueError:
        raw = trace_id_hex.encode()
    h = int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")
    return h / 2**64 < share


def kept_traces(spans: list[CanonicalSpan], rules: SamplingRules) -> set[str] | None:
    """Trace ids of this export that keep their content; None = all of them."""
    if rules.keeps_everything:
        return None
    slow_ns = None if rules.slow_ms is None else rules.slow_ms * 1e6
    seen: set[str] = set()
    flagged: set[str] = set()
    for s in spans:
        seen.add(s.trace_id)
        if rules.keep_errors and s.status_code == STATUS_ERROR:
            flagged.add(s.trace_id)
        elif slow_ns is not None and s.duration_ns >= slow_ns:
            flagged.add(s.trace_id)
    keep = flagged | {t for t in seen - flagged if trace_kept_by_hash(t, rules.keep_share)}
    if rules.keep_pii:
        keep |= {s.trace_id for s in spans if s.trace_id not in keep and pii_finding(s) is not None}
    return keep


def pii_finding(span: CanonicalSpan) -> str | None:
    """The first PII entity type in the span's raw content (attribute and event
    values; messages are parsed from those), or None."""
    for value in span.span_attributes.values():
        if len(value) >= 6 and (found := pii_screen.find(value)):
            return found
    for event in span.events:
        for value in event.get("attributes", {}).values():
            if isinstance(value, str) and len(value) >= 6 and (found := pii_screen.find(value)):
                return found
    return None


def light_attributes(attrs: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in attrs.items() if len(v) <= MAX_KEPT_VALUE_CHARS and not CONTENT_KEY.match(k)}


def drop_content(span: CanonicalSpan) -> None:
    """Thin a sampled-out span in place."""
    g = span.genai
    g.input_messages = []
    g.output_messages = []
    g.system_instructions = []
    g.tool_definitions = []
    g.documents = []
    span.span_attributes = light_attributes(span.span_attributes)
    span.events = []
    span.content_kept = False


def apply(spans: list[CanonicalSpan], rules: SamplingRules) -> int:
    """Thin every span whose trace is not kept; returns how many were thinned."""
    keep = kept_traces(spans, rules)
    if keep is None:
        return 0
    dropped = 0
    for s in spans:
        if s.trace_id not in keep:
            drop_content(s)
            dropped += 1
    return dropped
