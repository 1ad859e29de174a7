"""LangSmith OTel export (`langsmith`).

The LangSmith SDK (``LANGSMITH_OTEL_ENABLED``) exports runs with
``langsmith.span.kind`` (llm, chain, tool, retriever, embedding, prompt,
parser), ``langsmith.trace.name``, ``langsmith.metadata.*`` and semconv-ish
``gen_ai.*``: ``gen_ai.prompt`` / ``gen_ai.completion`` hold the run's inputs
and outputs as JSON (LangChain messages, ``{"messages": [[...]]}``,
``{"generations": [[...]]}``), usage in ``gen_ai.usage.*`` with optional
``gen_ai.usage.input_token_details`` / ``output_token_details`` JSON.
LangChain usage is inclusive (input counts cache, output counts reasoning).
"""

from __future__ import annotations

from typing import Any

from collector.normalize import messages as M
from collector.normalize.canonical import GenAIFields, SpanType
from collector.normalize.dialects import otel_genai
from collector.normalize.dialects._util import as_int, dumps, first_str, loads
from collector.normalize.dialects.base import SpanView

name = "langsmith"

_KINDS: dict[str, tuple[SpanType, str | None]] = {
    "llm": (SpanType.LLM, "chat"),
    "chat_model": (SpanType.LLM, "chat"),
    "embedding": (SpanType.EMBEDDING, "embeddings"),
    "tool": (SpanType.TOOL, "execute_tool"),
    "retriever": (SpanType.RETRIEVER, "retrieval"),
    "chain": (SpanType.CHAIN, None),
    "prompt": (SpanType.CHAIN, None),
    "parser": (SpanType.CHAIN, None),
    "agent": (SpanType.AGENT, "invoke_agent"),
}


def detect(span: SpanView) -> bool:
    a = span.attributes
    if "langsmith.span.kind" in a or "langsmith.trace.name" in a:
        return True
    return isinstance(span.scope_name, str) and span.scope_name.lower().startswith("langsmith")


def _completion(value: Any) -> list[dict[str, Any]]:
    v = loads(value)
    if isinstance(v, dict) and isinstance(v.get("generations"), list):
        out = []
        for g in v["generations"]:
            for gen in g if isinstance(g, list) else [g]:
                if not isinstance(gen, dict):
                    continue
                m = M.message(gen.get("message"), "assistant") if gen.get("message") is not None else M.assistant_text(gen.get("text"))
                info = gen.get("generation_info")
                if m and isinstance(info, dict) and info.get("finish_reason") is not None:
                    fr = M.finish_reason(info.get("finish_reason"))
                    if fr:
                        m["finish_reason"] = fr
                if m:
                    out.append(m)
        return out
    return M.outputs(value)


def _text_io(value: Any, r: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    v = loads(value)
    if isinstance(v, dict) and isinstance(v.get("messages"), list):
        return M.messages(v, r)
    return [{"role": r, "parts": [M.text_part(value if isinstance(value, str) else dumps(value))]}]


def _usage_metadata(a: Any, f: GenAIFields) -> None:
    """``langsmith.metadata.usage_metadata`` (LangChain UsageMetadata JSON)
    and ``gen_ai.usage.{input,output}_token_details`` fill the breakdown."""
    u = f.usage
    um = loads(a.get("langsmith.metadata.usage_metadata"))
    if isinstance(um, dict):
        if u.input_tokens is None:
            u.input_tokens = as_int(um.get("input_tokens"))
        if u.output_tokens is None:
            u.output_tokens = as_int(um.get("output_tokens"))
        if u.total_tokens is None:
            u.total_tokens = as_int(um.get("total_tokens"))
    else:
        um = {}
    ind = loads(a.get("gen_ai.usage.input_token_details")) or um.get("input_token_details")
    if isinstance(ind, dict):
        if u.cache_read_tokens is None:
            u.cache_read_tokens = as_int(ind.get("cache_read"))
        if u.cache_write_tokens is None:
            u.cache_write_tokens = as_int(ind.get("cache_creation"))
    outd = loads(a.get("gen_ai.usage.output_token_details")) or um.get("output_token_details")
    if isinstance(outd, dict) and u.reasoning_tokens is None:
        u.reasoning_tokens = as_int(outd.get("reasoning"))


def _unwrap_output(value: Any) -> Any:
    v = loads(value)
    if isinstance(v, dict) and set(v) == {"output"}:
        return v["output"]
    return v if v is not None else value


def extract(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = otel_genai.extract_base(span)
    kind = (first_str(a, ("langsmith.span.kind",)) or "").lower()
    if kind in _KINDS:
        f.span_type, f.operation = _KINDS[kind]
    if (f.provider or "").lower() == "langchain":
        f.provider = None
    f.provider = f.provider or first_str(a, ("langsmith.metadata.ls_provider",))
    f.request_model = f.request_model or first_str(a, ("langsmith.metadata.ls_model_name",))
    _usage_metadata(a, f)
    for key in ("session_id", "thread_id", "conversation_id"):
        f.session_id = f.session_id or first_str(a, (f"langsmith.metadata.{key}",))
    f.user_id = first_str(a, ("langsmith.metadata.user_id", "langsmith.metadata.userId"))
    trace_name = first_str(a, ("langsmith.trace.name",)) or span.name
    if f.span_type is SpanType.LLM:
        f.output_messages = _completion(a.get("gen_ai.completion")) or f.output_messages
        if not f.finish_reasons:
            f.finish_reasons = [m["finish_reason"] for m in f.output_messages if "finish_reason" in m]
    elif f.span_type is SpanType.TOOL:
        f.tool_name = f.tool_name or trace_name
        call_id = first_str(a, ("gen_ai.tool.call.id",))
        if a.get("gen_ai.prompt") is not None:
            f.input_messages = [{"role": "assistant", "parts": [M.tool_call_part(call_id, f.tool_name, a.get("gen_ai.prompt"))]}]
        if a.get("gen_ai.completion") is not None:
            out = _unwrap_output(a.get("gen_ai.completion"))
            parsed = loads(out) if isinstance(out, str) else None
            f.output_messages = [{"role": "tool", "parts": [M.tool_response_part(call_id, parsed if parsed is not None else out)]}]
    elif f.span_type is SpanType.EMBEDDING:
        p = loads(a.get("gen_ai.prompt"))
        texts = p.get("texts", p.get("text")) if isinstance(p, dict) else p
        items = texts if isinstance(texts, list) else ([texts] if texts is not None else [])
        f.input_messages = [{"role": "user", "parts": [M.text_part(t) for t in items[:1000]]}] if items else []
        f.output_messages = []  # vectors, not content
    else:
        f.input_messages = _text_io(a.get("gen_ai.prompt"), "user") or f.input_messages
        f.output_messages = _text_io(a.get("gen_ai.completion"), "assistant") or f.output_messages
        sys_parts, f.input_messages = M.split_system(f.input_messages)
        f.system_instructions = f.system_instructions + sys_parts
        if f.span_type is SpanType.AGENT:
            f.agent_name = f.agent_name or trace_name
    return f
