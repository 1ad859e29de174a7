"""Join GenAI log events to their span's messages, at read time.

Instrumentations in the default (pre-v1.37) mode put message content in OTLP
log records (gen_ai.user.message, gen_ai.choice, ...) rather than on the span.
Those records are stored as they arrive and joined here when a trace is read,
so it never matters whether the span or its events arrived first.  The same
converter as for per-message *span* events does the work.
"""

from __future__ import annotations

from typing import Any

from collector.normalize.canonical import GenAIFields
from collector.normalize.dialects.base import SpanEvent, SpanView
from collector.normalize.dialects.otel_genai import messages_from_events


def messages_from_log_events(events: list[dict[str, Any]]) -> GenAIFields:
    """`events`: rows of genai_events (event_name, body as JSON text, attributes)."""
    view_events = []
    for ev in events:
        attrs: dict[str, Any] = dict(ev.get("attributes") or {})
        if ev.get("body"):
            attrs["body"] = ev["body"]
        view_events.append(SpanEvent(ev["event_name"], int(ev.get("time_ns") or 0), attrs))
    fields = GenAIFields()
    messages_from_events(SpanView(name="", kind=0, attributes={}, events=view_events), fields)
    return fields


def fill_span_messages(span: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """Fill a span's empty message fields from its log events (in place)."""
    if not events or (span.get("input_messages") and span.get("output_messages")):
        return
    f = messages_from_log_events(events)
    if not span.get("input_messages") and f.input_messages:
        span["input_messages"] = f.input_messages
    if not span.get("output_messages") and f.output_messages:
        span["output_messages"] = f.output_messages
    if not span.get("system_instructions") and f.system_instructions:
        span["system_instructions"] = f.system_instructions
