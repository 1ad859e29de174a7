"""Count every LLM call once when several layers trace it.

Two shapes repeat one call:
- a framework span (LangChain's ChatOpenAI run, a LlamaIndex LLM event, an
  agent's model request) wraps the provider SDK's span of the same call, both
  typed llm.  The innermost client-side span is closest to the wire and knows
  the exact request, so it counts and every llm ancestor is marked as a wrapper.
- a model server traces the request it served (vLLM's `llm_request` SERVER
  span) under the client's span, with HTTP spans in between.  The client span
  knows the model name, messages and user, so it counts and the server span
  does not, unless no client-side llm span is above it.

The rule runs twice: on each export before it is written (parents and
children that travel together), and after writes on whole traces
(`collector/reconcile.py`), because a parent and its child often arrive in
different exports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collector.normalize.canonical import CanonicalSpan, SpanType

_USAGE_TYPES = (SpanType.LLM.value, SpanType.EMBEDDING.value)
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Node:
    trace_id: str
    span_id: str
    parent_span_id: str
    is_llm: bool
    is_server: bool  # a model server's own span of the request it served


def not_counted(nodes: Iterable[Node]) -> set[tuple[str, str]]:
    """(trace_id, span_id) of the llm spans that must not count usage."""
    by_id = {(n.trace_id, n.span_id): n for n in nodes}
    out: set[tuple[str, str]] = set()
    for n in by_id.values():
        if not n.is_llm:
            continue
        parent_id, depth = n.parent_span_id, 0
        while parent_id and depth < _MAX_DEPTH:
            parent = by_id.get((n.trace_id, parent_id))
            if parent is None:
                break
            if parent.is_llm:
                # n sits under another llm span: one of the two is a repeat.
                if n.is_server and not parent.is_server:
                    out.add((n.trace_id, n.span_id))
                else:
                    out.add((parent.trace_id, parent.span_id))
                break
            parent_id, depth = parent.parent_span_id, depth + 1
    return out


def _node(s: CanonicalSpan) -> Node:
    return Node(
        s.trace_id,
        s.span_id,
        s.parent_span_id,
        s.genai.span_type.value in _USAGE_TYPES,
        s.dialect == "vllm",
    )


def resolve_layers(spans: list[CanonicalSpan]) -> None:
    """Mark wrapper spans within one export (in place)."""
    if sum(1 for s in spans if s.genai.span_type.value in _USAGE_TYPES) < 2:
        return
    drop = not_counted(_node(s) for s in spans)
    for s in spans:
        if (s.trace_id, s.span_id) in drop:
            s.genai.counts_usage = False
