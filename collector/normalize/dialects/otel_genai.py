"""OTel GenAI semantic conventions, v1.27 through v1.41 (`otel_genai`).

Covers both attribute generations: ``gen_ai.system`` / ``prompt_tokens`` /
``gen_ai.prompt`` (deprecated) and ``gen_ai.provider.name`` /
``input_tokens`` / ``gen_ai.input.messages``; message content as span
attributes (JSON strings or structured AnyValues) or as per-message span
events (``gen_ai.user.message`` ... ``gen_ai.choice``) and the v1.37+
``gen_ai.client.inference.operation.details`` event.

`extract_base` is also the first step of the openlit, pydantic_ai, langsmith
and vercel_ai dialects, which all emit ``gen_ai.*`` next to their own keys.
"""

from __future__ import annotations

from typing import Any, Mapping

from collector.normalize import messages as M
from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.normalize.dialects._util import (
    as_float,
    as_int,
    as_str,
    finish_reasons,
    first,
    first_float,
    first_int,
    first_str,
    loads,
)
from collector.normalize.dialects.base import SpanView

name = "otel_genai"

DETECT_KEYS = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.input.messages",
    "gen_ai.tool.name",
    "gen_ai.agent.name",
)

OPERATIONS = {
    "chat": "chat",
    "text_completion": "text_completion",
    "completion": "text_completion",
    "generate_content": "generate_content",
    "embeddings": "embeddings",
    "embedding": "embeddings",
    "execute_tool": "execute_tool",
    "tool": "execute_tool",
    "invoke_agent": "invoke_agent",
    "create_agent": "create_agent",
    "retrieval": "retrieval",
    "retrieve": "retrieval",
    "rerank": "rerank",
}

OP_TYPES = {
    "chat": SpanType.LLM,
    "text_completion": SpanType.LLM,
    "generate_content": SpanType.LLM,
    "embeddings": SpanType.EMBEDDING,
    "execute_tool": SpanType.TOOL,
    "invoke_agent": SpanType.AGENT,
    "create_agent": SpanType.AGENT,
    "retrieval": SpanType.RETRIEVER,
    "rerank": SpanType.RETRIEVER,
}

INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
TOTAL_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cache_read_tokens",
    "gen_ai.usage.cached_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "gen_ai.usage.prompt_tokens_details.cached_tokens",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write_tokens",
)
REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.reasoning_output_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "gen_ai.usage.completion_tokens_details.reasoning_tokens",
    "llm.usage.reasoning_tokens",
)
TTFT_KEYS = (
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.client.operation.time_to_first_chunk",
    "gen_ai.server.time_to_first_token",
    "gen_ai.client.time_to_first_token",
    "gen_ai.response.time_to_first_token",
)
STREAM_KEYS = ("gen_ai.request.stream", "gen_ai.request.is_stream", "llm.is_streaming", "gen_ai.is_streaming")

_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def detect(span: SpanView) -> bool:
    a = span.attributes
    for k in DETECT_KEYS:
        if k in a:
            return True
    for e in span.events:
        if isinstance(e.name, str) and e.name.startswith("gen_ai."):
            return True
    return False


def operation(raw: Any) -> str | None:
    s = as_str(raw)
    if not s:
        return None
    low = s.strip().lower()
    return OPERATIONS.get(low, low)


# Scalar fields as (field, candidate keys in priority order, converter).  One
# pass over the span's attributes fills them all: a span carries ~10-20
# attributes while the candidate keys number ~50, so looking each attribute up
# once beats probing every candidate key (this runs for every GenAI span).
_SCALAR_FIELDS: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("provider", ("gen_ai.provider.name", "gen_ai.system"), as_str),
    ("request_model", ("gen_ai.request.model",), as_str),
    ("response_model", ("gen_ai.response.model",), as_str),
    ("input_tokens", INPUT_KEYS, as_int),
    ("output_tokens", OUTPUT_KEYS, as_int),
    ("cache_read_tokens", CACHE_READ_KEYS, as_int),
    ("cache_write_tokens", CACHE_WRITE_KEYS, as_int),
    ("reasoning_tokens", REASONING_KEYS, as_int),
    ("total_tokens", TOTAL_KEYS, as_int),
    ("ttft", TTFT_KEYS, as_float),
    ("temperature", ("gen_ai.request.temperature",), as_float),
    ("max_tokens", ("gen_ai.request.max_tokens", "gen_ai.request.max_output_tokens"), as_int),
    ("top_p", ("gen_ai.request.top_p",), as_float),
    ("seed", ("gen_ai.request.seed",), as_int),
    ("response_id", ("gen_ai.response.id",), as_str),
    ("session_id", ("gen_ai.conversation.id",), as_str),
    ("tool_name", ("gen_ai.tool.name",), as_str),
    ("agent_name", ("gen_ai.agent.name",), as_str),
)
_SCALAR_INDEX: dict[str, tuple[str, int, Any]] = {
    key: (field, rank, conv) for field, keys, conv in _SCALAR_FIELDS for rank, key in enumerate(keys)
}


def scalars(a: Mapping[str, Any]) -> dict[str, Any]:
    """field -> value of the highest-priority key present with a usable value
    (the same answer as probing the keys in order)."""
    best: dict[str, tuple[int, Any]] = {}
    index = _SCALAR_INDEX
    for key, value in a.items():
        hit = index.get(key)
        if hit is None or value is None:
            continue
        field, rank, conv = hit
        cur = best.get(field)
        if cur is not None and cur[0] < rank:
            continue
        converted = conv(value)
        if converted is not None:
            best[field] = (rank, converted)
    return {field: v for field, (_, v) in best.items()}


def usage(a: Mapping[str, Any]) -> TokenUsage:
    return TokenUsage(
        input_tokens=first_int(a, INPUT_KEYS),
        output_tokens=first_int(a, OUTPUT_KEYS),
        cache_read_tokens=first_int(a, CACHE_READ_KEYS),
        cache_write_tokens=first_int(a, CACHE_WRITE_KEYS),
        reasoning_tokens=first_int(a, REASONING_KEYS),
        total_tokens=first_int(a, TOTAL_KEYS),
    )


def _event_body(attrs: Mapping[str, Any]) -> Any:
    for k in ("gen_ai.event.content", "event.body", "body"):
        v = attrs.get(k)
        if v is not None:
            parsed = loads(v)
            return parsed if parsed is not None else v
    return dict(attrs)


def messages_from_events(span: SpanView, f: GenAIFields) -> None:
    """Per-message span events (semconv <= v1.36) and the v1.37+ inference
    details event.  Only fills what the attributes left empty."""
    ins: list[dict[str, Any]] = []
    outs: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    for e in span.events:
        ename = e.name if isinstance(e.name, str) else ""
        if not ename.startswith("gen_ai."):
            continue
        attrs = e.attributes if isinstance(e.attributes, dict) else {}
        if ename == "gen_ai.client.inference.operation.details":
            s, i = M.inputs(attrs.get("gen_ai.input.messages"))
            system.extend(M.system_parts(attrs.get("gen_ai.system_instructions")) or s)
            ins.extend(i)
            outs.extend(M.outputs(attrs.get("gen_ai.output.messages")))
            continue
        if ename == "gen_ai.choice":
            body = _event_body(attrs)
            if isinstance(body, dict):
                msg = body.get("message", body)
                m = M.message(msg if msg is not None else "", "assistant")
                if m is not None:
                    fr = M.finish_reason(body.get("finish_reason"))
                    if fr:
                        m["finish_reason"] = fr
                    outs.append(m)
            else:
                m = M.message(body, "assistant")
                if m:
                    outs.append(m)
            continue
        r = _EVENT_ROLES.get(ename)
        if r is None:
            continue
        body = _event_body(attrs)
        if isinstance(body, dict):
            body = dict(body)
            body.setdefault("role", r)
            if r == "tool" and "id" in body and "tool_call_id" not in body:
                body["tool_call_id"] = body["id"]
        m = M.message(body, r)
        if m is None:
            continue
        if m["role"] == "system":
            system.extend(m["parts"])
        else:
            ins.append(m)
    if not f.input_messages and ins:
        f.input_messages = ins
    if not f.system_instructions and system:
        f.system_instructions = system
    if not f.output_messages and outs:
        f.output_messages = outs


def tool_io(a: Mapping[str, Any], f: GenAIFields) -> None:
    """execute_tool arguments/result as a tool_call / tool_call_response pair."""
    call_id = first_str(a, ("gen_ai.tool.call.id",))
    args = first(a, ("gen_ai.tool.call.arguments", "tool_arguments", "gen_ai.tool.arguments"))
    result = first(a, ("gen_ai.tool.call.result", "tool_response", "gen_ai.tool.result", "gen_ai.tool.output"))
    if args is not None and not f.input_messages:
        f.input_messages = [{"role": "assistant", "parts": [M.tool_call_part(call_id, f.tool_name, args)]}]
    if result is not None and not f.output_messages:
        parsed = loads(result) if isinstance(result, str) else None
        f.output_messages = [
            {"role": "tool", "parts": [M.tool_response_part(call_id, parsed if parsed is not None else result)]}
        ]


def documents(value: Any) -> list[dict[str, Any]]:
    docs = loads(value) if not isinstance(value, list) else value
    if not isinstance(docs, list):
        return []
    out = []
    for d in docs[:1000]:
        if isinstance(d, dict):
            out.append(
                {
                    "id": as_str(d.get("id")),
                    "content": d.get("content", d.get("text")),
                    "score": d.get("score"),
                    "metadata": d.get("metadata") if isinstance(d.get("metadata"), dict) else {},
                }
            )
    return out


def tool_definitions(value: Any) -> list[dict[str, Any]]:
    v = loads(value) if not isinstance(value, list) else value
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        return []
    return [d for d in v[:1000] if isinstance(d, dict)]


def extract_base(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = GenAIFields()
    v = scalars(a)
    get = v.get
    f.operation = operation(a.get("gen_ai.operation.name"))
    f.provider = get("provider")
    f.request_model = get("request_model")
    f.response_model = get("response_model")
    f.usage = TokenUsage(
        input_tokens=get("input_tokens"),
        output_tokens=get("output_tokens"),
        cache_read_tokens=get("cache_read_tokens"),
        cache_write_tokens=get("cache_write_tokens"),
        reasoning_tokens=get("reasoning_tokens"),
        total_tokens=get("total_tokens"),
    )
    f.time_to_first_token_s = get("ttft")
    f.temperature = get("temperature")
    f.max_tokens = get("max_tokens")
    f.top_p = get("top_p")
    f.seed = get("seed")
    for k in STREAM_KEYS:
        v = a.get(k)
        if isinstance(v, bool):
            f.stream = v
            break
    f.finish_reasons = finish_reasons(a.get("gen_ai.response.finish_reasons"))
    f.response_id = get("response_id")
    f.session_id = get("session_id")
    f.tool_name = get("tool_name")
    f.agent_name = get("agent_name")

    system = M.system_parts(a.get("gen_ai.system_instructions"))
    in_sys, ins = M.inputs(first(a, ("gen_ai.input.messages", "gen_ai.prompt")))
    # Prefer the explicit attribute; some senders (OpenLIT) also repeat the
    # system prompt inline in gen_ai.input.messages.
    f.system_instructions = system or in_sys
    f.input_messages = ins
    f.output_messages = M.outputs(first(a, ("gen_ai.output.messages", "gen_ai.completion")))
    f.tool_definitions = tool_definitions(a.get("gen_ai.tool.definitions"))
    if span.events:
        messages_from_events(span, f)
    if f.finish_reasons == []:
        f.finish_reasons = [m["finish_reason"] for m in f.output_messages if m.get("finish_reason")]

    op = f.operation
    if op is not None:
        f.span_type = OP_TYPES.get(op, SpanType.OTHER)
        if f.span_type is SpanType.OTHER and not f.usage.is_empty():
            f.span_type = SpanType.LLM
    elif not f.usage.is_empty():
        f.span_type = SpanType.LLM
    elif f.tool_name and ("gen_ai.tool.call.id" in a or "gen_ai.tool.call.arguments" in a):
        f.span_type, f.operation = SpanType.TOOL, "execute_tool"
    elif f.agent_name:
        f.span_type = SpanType.AGENT
    if f.span_type is SpanType.TOOL:
        tool_io(a, f)
    if f.span_type is SpanType.RETRIEVER:
        f.documents = documents(first(a, ("gen_ai.retrieval.documents",)))
        q = first_str(a, ("gen_ai.retrieval.query.text", "gen_ai.retrieval.query"))
        if q and not f.input_messages:
            f.input_messages = [{"role": "user", "parts": [M.text_part(q)]}]
    return f


def extract(span: SpanView) -> GenAIFields:
    return extract_base(span)

