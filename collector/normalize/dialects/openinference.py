"""OpenInference (Arize Phoenix instrumentations) (`openinference`).

Typed by ``openinference.span.kind``.  LLM content is flattened:
``llm.input_messages.N.message.{role,content,name,tool_call_id}``,
``...message.contents.M.message_content.{type,text,image.image.url}``,
``...message.tool_calls.M.tool_call.{id,function.name,function.arguments}``;
tokens in ``llm.token_count.*`` (details are breakdowns of the totals);
provider-reported cost in ``llm.cost.*``; generic ``input.value`` /
``output.value`` for chains, tools and agents; documents in
``retrieval.documents.N.document.*`` and ``reranker.output_documents.N...``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from collector.normalize import messages as M
from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.normalize.dialects._util import (
    as_bool,
    as_decimal,
    as_float,
    as_int,
    as_str,
    first,
    first_int,
    finish_reasons,
    first_str,
    indexed,
    loads,
)
from collector.normalize.dialects.base import SpanView

name = "openinference"

_KINDS: dict[str, tuple[SpanType, str | None]] = {
    "LLM": (SpanType.LLM, "chat"),
    "EMBEDDING": (SpanType.EMBEDDING, "embeddings"),
    "CHAIN": (SpanType.CHAIN, None),
    "TOOL": (SpanType.TOOL, "execute_tool"),
    "AGENT": (SpanType.AGENT, "invoke_agent"),
    "RETRIEVER": (SpanType.RETRIEVER, "retrieval"),
    "RERANKER": (SpanType.RETRIEVER, "rerank"),
    "GUARDRAIL": (SpanType.CHAIN, None),
    "EVALUATOR": (SpanType.CHAIN, None),
    "PROMPT": (SpanType.CHAIN, None),
    "UNKNOWN": (SpanType.OTHER, None),
}

_MSG_PROBE = ("message.role", "message.content", "message.contents.0.message_content.type",
              "message.contents.0.message_content.text", "message.tool_calls.0.tool_call.function.name")


def detect(span: SpanView) -> bool:
    a = span.attributes
    return "openinference.span.kind" in a or "llm.token_count.prompt" in a or "llm.model_name" in a


def _messages(a: Mapping[str, Any], prefix: str, default_role: str) -> list[dict[str, Any]]:
    n = indexed(a, prefix, _MSG_PROBE)
    out: list[dict[str, Any]] = []
    for i in range(n):
        b = f"{prefix}.{i}.message."
        r = M.role(a.get(b + "role") or default_role)
        parts: list[dict[str, Any]] = []
        content = a.get(b + "content")
        tcid = a.get(b + "tool_call_id")
        if r == "tool" and tcid is not None:
            parsed = loads(content) if isinstance(content, str) else None
            parts.append(M.tool_response_part(tcid, parsed if parsed is not None else content))
        elif content is not None:
            parts.append(M.text_part(content))
        nc = indexed(a, b + "contents", ("message_content.type", "message_content.text"))
        for j in range(nc):
            c = f"{b}contents.{j}.message_content."
            t = as_str(a.get(c + "type")) or "text"
            if t == "image":
                parts.append({"type": "uri", "modality": "image", "uri": as_str(a.get(c + "image.image.url")) or ""})
            else:
                parts.append(M.text_part(a.get(c + "text") or ""))
        nt = indexed(a, b + "tool_calls", ("tool_call.function.name", "tool_call.id"))
        for j in range(nt):
            t = f"{b}tool_calls.{j}.tool_call."
            parts.append(M.tool_call_part(a.get(t + "id"), a.get(t + "function.name"), a.get(t + "function.arguments")))
        if (fc := a.get(b + "function_call_name")) is not None:
            parts.append(M.tool_call_part(None, fc, a.get(b + "function_call_arguments_json")))
        out.append({"role": r, "parts": parts})
    return out


def _documents(a: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    n = indexed(a, prefix, ("document.content", "document.id", "document.score"))
    out = []
    for i in range(n):
        b = f"{prefix}.{i}.document."
        meta = a.get(b + "metadata")
        meta = loads(meta) if isinstance(meta, str) else meta
        out.append(
            {
                "id": as_str(a.get(b + "id")),
                "content": a.get(b + "content"),
                "score": as_float(a.get(b + "score")),
                "metadata": meta if isinstance(meta, dict) else {},
            }
        )
    return out


def _invocation(a: Mapping[str, Any], f: GenAIFields) -> None:
    p = loads(a.get("llm.invocation_parameters"))
    if not isinstance(p, dict):
        return
    f.temperature = as_float(p.get("temperature"))
    f.max_tokens = as_int(first(p, ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxTokens")))
    f.top_p = as_float(p.get("top_p"))
    f.seed = as_int(p.get("seed"))
    f.stream = as_bool(p.get("stream"))
    f.request_model = as_str(p.get("model"))


def _io_text(v: Any, r: str) -> list[dict[str, Any]]:
    if v is None or v == "":
        return []
    return [{"role": r, "parts": [M.text_part(v)]}]


def extract(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = GenAIFields()
    kind = (as_str(a.get("openinference.span.kind")) or "").upper()
    if not kind:
        kind = "LLM" if "llm.token_count.prompt" in a or "llm.input_messages.0.message.role" in a else "UNKNOWN"
    f.span_type, f.operation = _KINDS.get(kind, (SpanType.OTHER, None))
    f.provider = first_str(a, ("llm.provider", "llm.system"))
    # llm.model_name is the model the response names; the requested one is in
    # llm.invocation_parameters (read below).
    f.response_model = first_str(a, ("llm.model_name", "embedding.model_name", "reranker.model_name"))
    f.usage = TokenUsage(
        input_tokens=first_int(a, ("llm.token_count.prompt",)),
        output_tokens=first_int(a, ("llm.token_count.completion",)),
        total_tokens=first_int(a, ("llm.token_count.total",)),
        cache_read_tokens=first_int(a, ("llm.token_count.prompt_details.cache_read",)),
        cache_write_tokens=first_int(a, ("llm.token_count.prompt_details.cache_write",)),
        reasoning_tokens=first_int(a, ("llm.token_count.completion_details.reasoning",)),
    )
    f.provider_cost_usd = as_decimal(a.get("llm.cost.total"))
    if f.provider_cost_usd is None:
        vals = [d for d in (as_decimal(a.get(k)) for k in ("llm.cost.prompt", "llm.cost.completion")) if d is not None]
        if vals:
            f.provider_cost_usd = sum(vals, Decimal(0))
    f.session_id = first_str(a, ("session.id",))
    f.user_id = first_str(a, ("user.id",))
    _invocation(a, f)
    if f.request_model is None:
        f.request_model = f.response_model
    f.finish_reasons = finish_reasons(a.get("llm.finish_reason"))

    if f.span_type is SpanType.LLM:
        sys_parts, ins = M.split_system(_messages(a, "llm.input_messages", "user"))
        f.system_instructions, f.input_messages = sys_parts, ins
        f.output_messages = _messages(a, "llm.output_messages", "assistant")
        if not f.input_messages and not sys_parts and a.get("input.value") is not None:
            sys_parts, f.input_messages = M.inputs(a.get("input.value"))
            f.system_instructions = sys_parts
        if not f.output_messages and a.get("output.value") is not None:
            f.output_messages = _io_text(a.get("output.value"), "assistant")
        if f.finish_reasons and f.output_messages:
            f.output_messages[0].setdefault("finish_reason", f.finish_reasons[0])
        nt = indexed(a, "llm.tools", ("tool.json_schema",))
        for i in range(nt):
            d = loads(a.get(f"llm.tools.{i}.tool.json_schema"))
            if isinstance(d, dict):
                f.tool_definitions.append(d)
    elif f.span_type is SpanType.EMBEDDING:
        n = indexed(a, "embedding.embeddings", ("embedding.text",))
        texts = [M.text_part(a.get(f"embedding.embeddings.{i}.embedding.text") or "") for i in range(n)]
        if texts:
            f.input_messages = [{"role": "user", "parts": texts}]
    elif f.span_type is SpanType.TOOL:
        f.tool_name = first_str(a, ("tool.name",)) or span.name
        call_id = first_str(a, ("tool_call.id", "tool.id"))
        args = first(a, ("tool.parameters", "input.value"))
        if args is not None:
            f.input_messages = [{"role": "assistant", "parts": [M.tool_call_part(call_id, f.tool_name, args)]}]
        out = a.get("output.value")
        if out is not None:
            parsed = loads(out) if isinstance(out, str) else None
            f.output_messages = [{"role": "tool", "parts": [M.tool_response_part(call_id, parsed if parsed is not None else out)]}]
    elif f.span_type is SpanType.RETRIEVER:
        if f.operation == "rerank":
            f.documents = _documents(a, "reranker.output_documents")
            q = a.get("reranker.query")
        else:
            f.documents = _documents(a, "retrieval.documents")
            q = a.get("input.value")
        f.input_messages = _io_text(q, "user")
    else:
        if f.span_type is SpanType.AGENT:
            f.agent_name = first_str(a, ("agent.name", "graph.node.name")) or span.name
        f.input_messages = _io_text(a.get("input.value"), "user")
        f.output_messages = _io_text(a.get("output.value"), "assistant")
    return f
