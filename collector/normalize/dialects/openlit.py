"""OpenLIT (`openlit`).

Identified by the resource ``telemetry.sdk.name = "openlit"`` (or an
``openlit`` scope).  Semconv-shaped attributes plus OpenLIT's own:
``gen_ai.usage.cost`` (cost OpenLIT computed from its price list, kept as the
sender-reported cost), ``gen_ai.server.time_to_first_token`` (seconds),
``gen_ai.request.is_stream``, and, in older releases, content in
``gen_ai.content.prompt`` / ``gen_ai.content.completion`` events (attributes
``gen_ai.prompt`` / ``gen_ai.completion``) or same-named span attributes,
as a ``"role: text"`` transcript or a JSON message list.  Token counts are
provider-native (Anthropic input excludes cache; see providers.py).
"""

from __future__ import annotations

from typing import Any

from collector.normalize import messages as M
from collector.normalize.canonical import GenAIFields, SpanType
from collector.normalize.dialects import otel_genai
from collector.normalize.dialects._util import as_bool, as_decimal, first, first_int, loads
from collector.normalize.dialects.base import SpanView

name = "openlit"


def detect(span: SpanView) -> bool:
    if isinstance(span.scope_name, str) and span.scope_name.lower().startswith("openlit"):
        return True
    sdk = span.resource.get("telemetry.sdk.name") if isinstance(span.resource, dict) else None
    if not (isinstance(sdk, str) and sdk.lower() == "openlit"):
        return False
    # App spans in an OpenLIT-instrumented service are not GenAI spans.
    return otel_genai.detect(span) or "gen_ai.content.prompt" in span.attributes


def _content(value: Any, default_role: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if loads(value) is not None:
        return M.messages(value, default_role)
    return [{"role": default_role, "parts": [M.text_part(value)]}] if value != "" else []


def extract(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = otel_genai.extract_base(span)
    f.provider_cost_usd = as_decimal(a.get("gen_ai.usage.cost"))
    if f.usage.total_tokens is None:
        f.usage.total_tokens = first_int(a, ("gen_ai.client.token.usage",))
    s = as_bool(a.get("gen_ai.request.is_stream"))
    if s is not None:
        f.stream = s
    prompt = first(a, ("gen_ai.content.prompt",))
    completion = first(a, ("gen_ai.content.completion",))
    for e in span.events:
        attrs = e.attributes if isinstance(e.attributes, dict) else {}
        if e.name == "gen_ai.content.prompt" and prompt is None:
            prompt = first(attrs, ("gen_ai.prompt", "gen_ai.content.prompt"))
        elif e.name == "gen_ai.content.completion" and completion is None:
            completion = first(attrs, ("gen_ai.completion", "gen_ai.content.completion"))
    if not f.input_messages and prompt is not None:
        sys_parts, f.input_messages = M.split_system(_content(prompt, "user"))
        f.system_instructions = f.system_instructions or sys_parts
    if not f.output_messages and completion is not None:
        f.output_messages = _content(completion, "assistant")
        if f.output_messages and f.finish_reasons:
            f.output_messages[-1].setdefault("finish_reason", f.finish_reasons[0])
    if f.span_type is SpanType.OTHER and f.operation and not f.usage.is_empty():
        f.span_type = SpanType.LLM
    elif f.span_type is SpanType.OTHER and f.operation:
        f.span_type = SpanType.CHAIN
    return f
