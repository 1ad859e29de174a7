"""OpenLLMetry / Traceloop (`openllmetry`).

Content is flattened into indexed attributes: ``gen_ai.prompt.N.role|content|
tool_call_id``, ``gen_ai.prompt.N.tool_calls.M.{id,name,arguments}``,
``gen_ai.completion.N.role|content|finish_reason|tool_calls.M.*``; tools in
``llm.request.functions.N.{name,description,parameters}``.  Workflow spans are
typed by ``traceloop.span.kind`` (workflow, task, agent, tool) with
``traceloop.entity.{name,input,output}``; LLM spans by ``llm.request.type``.
Newer releases also emit semconv keys, which `otel_genai.extract_base` reads.
"""

from __future__ import annotations

from typing import Any, Mapping

from collector.normalize import messages as M
from collector.normalize.canonical import GenAIFields, SpanType
from collector.normalize.dialects import otel_genai
from collector.normalize.dialects._util import as_bool, first_int, first_str, indexed, loads
from collector.normalize.dialects.base import SpanView

name = "openllmetry"

_DETECT = (
    "traceloop.span.kind",
    "llm.request.type",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role",
    "gen_ai.completion.0.content",
    "gen_ai.completion.0.role",
    "llm.usage.total_tokens",
    "traceloop.entity.name",
    "traceloop.workflow.name",
    "llm.is_streaming",
    "gen_ai.is_streaming",
    "gen_ai.openai.api_base",
)

_KINDS = {
    "workflow": SpanType.CHAIN,
    "task": SpanType.CHAIN,
    "agent": SpanType.AGENT,
    "tool": SpanType.TOOL,
    "unknown": SpanType.OTHER,
}

_REQUEST_TYPES = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}

_PROBE = ("role", "content", "tool_calls.0.name", "tool_call_id", "finish_reason")


def detect(span: SpanView) -> bool:
    a = span.attributes
    for k in _DETECT:
        if k in a:
            return True
    return False


def _tool_calls(a: Mapping[str, Any], base: str) -> list[dict[str, Any]]:
    n = indexed(a, f"{base}.tool_calls", ("name", "id", "arguments"))
    out = []
    for j in range(n):
        p = f"{base}.tool_calls.{j}."
        out.append(M.tool_call_part(a.get(p + "id"), a.get(p + "name"), a.get(p + "arguments")))
    return out


def _indexed_messages(a: Mapping[str, Any], prefix: str, default_role: str) -> list[dict[str, Any]]:
    n = indexed(a, prefix, _PROBE)
    out: list[dict[str, Any]] = []
    for i in range(n):
        base = f"{prefix}.{i}"
        raw: dict[str, Any] = {"role": a.get(base + ".role") or default_role}
        content = a.get(base + ".content")
        parsed = loads(content) if isinstance(content, str) and content[:1] in "[{" else None
        raw["content"] = parsed if isinstance(parsed, list) else content
        tcid = a.get(base + ".tool_call_id")
        if tcid is not None:
            raw["tool_call_id"] = tcid
        m = M.message(raw, default_role)
        if m is None:
            continue
        m["parts"].extend(_tool_calls(a, base))
        fr = M.finish_reason(a.get(base + ".finish_reason"))
        if fr:
            m["finish_reason"] = fr
        out.append(m)
    return out


def _functions(a: Mapping[str, Any]) -> list[dict[str, Any]]:
    n = indexed(a, "llm.request.functions", ("name",))
    out = []
    for i in range(n):
        p = f"llm.request.functions.{i}."
        params = a.get(p + "parameters")
        parsed = loads(params) if isinstance(params, str) else params
        out.append(
            {
                "type": "function",
                "name": a.get(p + "name"),
                "description": a.get(p + "description"),
                "parameters": parsed if parsed is not None else params,
            }
        )
    return out


def extract(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = otel_genai.extract_base(span)
    f.provider = first_str(a, ("gen_ai.system", "gen_ai.provider.name")) or f.provider
    if f.usage.total_tokens is None:
        f.usage.total_tokens = first_int(a, ("llm.usage.total_tokens",))
    if f.usage.cache_read_tokens is None:
        f.usage.cache_read_tokens = first_int(a, ("llm.usage.cache_read_input_tokens",))
    s = as_bool(a.get("llm.is_streaming", a.get("gen_ai.is_streaming")))
    if s is not None:
        f.stream = s

    if "gen_ai.prompt.0.role" in a or "gen_ai.prompt.0.content" in a:
        sys_parts, ins = M.split_system(_indexed_messages(a, "gen_ai.prompt", "user"))
        f.system_instructions, f.input_messages = sys_parts, ins
    if "gen_ai.completion.0.role" in a or "gen_ai.completion.0.content" in a or "gen_ai.completion.0.tool_calls.0.name" in a:
        f.output_messages = _indexed_messages(a, "gen_ai.completion", "assistant")
        if not f.finish_reasons:
            f.finish_reasons = [m["finish_reason"] for m in f.output_messages if "finish_reason" in m]
    if not f.tool_definitions:
        f.tool_definitions = _functions(a)

    kind = first_str(a, ("traceloop.span.kind",))
    rtype = first_str(a, ("llm.request.type",))
    if rtype:
        op = _REQUEST_TYPES.get(rtype.lower(), rtype.lower())
        # Anthropic's messages API is tagged "completion"; its span is "anthropic.chat".
        if op == "text_completion" and span.name.endswith(".chat"):
            op = "chat"
        f.operation = f.operation or op
        f.span_type = otel_genai.OP_TYPES.get(f.operation, SpanType.LLM)
    elif kind:
        f.span_type = _KINDS.get(kind.lower(), SpanType.CHAIN)
        entity = first_str(a, ("traceloop.entity.name",)) or span.name
        if f.span_type is SpanType.TOOL:
            f.operation, f.tool_name = "execute_tool", f.tool_name or entity
        elif f.span_type is SpanType.AGENT:
            f.operation, f.agent_name = "invoke_agent", f.agent_name or entity
        ent_in = a.get("traceloop.entity.input")
        ent_out = a.get("traceloop.entity.output")
        if ent_in is not None and not f.input_messages:
            f.input_messages = [{"role": "user", "parts": [M.text_part(ent_in)]}]
        if ent_out is not None and not f.output_messages:
            f.output_messages = [{"role": "assistant", "parts": [M.text_part(ent_out)]}]
    elif not f.usage.is_empty() and f.operation is None:
        f.span_type, f.operation = SpanType.LLM, "chat"
    return f
