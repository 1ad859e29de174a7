"""Count every LLM call once when several layers trace it.

A framework span (LangChain's ChatOpenAI run, an agent's model request) often
wraps the provider SDK's span for the same call, and both report usage.  The
innermost span is the one closest to the wire, so it keeps the usage and every
LLM ancestor that reports usage is marked `counts_usage = False`.
"""

from __future__ import annotations

from collector.normalize.canonical import CanonicalSpan, SpanType

_USAGE_TYPES = (SpanType.LLM, SpanType.EMBEDDING)


def resolve_layers(spans: list[CanonicalSpan]) -> None:
    by_id = {(s.trace_id, s.span_id): s for s in spans if s.genai.span_type in _USAGE_TYPES}
    if len(by_id) < 2:
        return
    for span in by_id.values():
        if not span.genai.counts_usage or span.genai.usage.is_empty():
            continue
        parent_id = span.parent_span_id
        seen = 0
        while parent_id and seen < 64:
            parent = by_id.get((span.trace_id, parent_id))
            if parent is None:
                break
            if not parent.genai.usage.is_empty():
                parent.genai.counts_usage = False
            parent_id = parent.parent_span_id
            seen += 1
