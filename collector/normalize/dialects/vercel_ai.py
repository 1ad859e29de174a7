"""Vercel AI SDK telemetry, v3 through v6 (`vercel_ai`).

Span shape: an outer ``ai.generateText`` / ``ai.streamText`` /
``ai.generateObject`` / ``ai.streamObject`` / ``ai.embed(Many)`` span wraps one
or more provider calls ``*.doGenerate`` / ``*.doStream`` / ``*.doEmbed`` and
``ai.toolCall`` spans.  The outer span repeats the usage summed over its
steps, so only the do* spans count usage (outer: CHAIN, counts_usage=False).

Usage keys by version: v3/v4 ``ai.usage.promptTokens``/``completionTokens``;
v5 ``ai.usage.inputTokens``/``outputTokens``/``totalTokens``/
``reasoningTokens``/``cachedInputTokens``; v6 adds
``ai.usage.inputTokenDetails.{noCacheTokens,cacheReadTokens,cacheWriteTokens}``
and ``ai.usage.outputTokenDetails.{textTokens,reasoningTokens}``.  Cache
writes before v6 only appear in ``ai.response.providerMetadata``.

This dialect runs before `otel_genai`: do* spans also carry ``gen_ai.*``.
"""

from __future__ import annotations

from typing import Any, Mapping

from collector.normalize import messages as M
from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.normalize.dialects import otel_genai
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

name = "vercel_ai"

_INNER = (".doGenerate", ".doStream", ".doEmbed")


def detect(span: SpanView) -> bool:
    a = span.attributes
    if "ai.operationId" in a or "ai.model.id" in a or "ai.toolCall.name" in a:
        return True
    op = a.get("operation.name")
    return isinstance(op, str) and op.startswith("ai.")


def _operation_id(span: SpanView) -> str:
    a = span.attributes
    op = as_str(a.get("ai.operationId"))
    if op:
        return op
    raw = as_str(a.get("operation.name")) or span.name or ""
    return raw.split(" ", 1)[0]


def _provider_metadata(a: Mapping[str, Any]) -> dict[str, Any]:
    pm = loads(first(a, ("ai.response.providerMetadata", "ai.providerMetadata")))
    return pm if isinstance(pm, dict) else {}


def _usage(a: Mapping[str, Any], pm: dict[str, Any]) -> TokenUsage:
    u = TokenUsage(
        input_tokens=first_int(a, ("ai.usage.inputTokens", "ai.usage.promptTokens", "ai.usage.tokens")),
        output_tokens=first_int(a, ("ai.usage.outputTokens", "ai.usage.completionTokens")),
        total_tokens=first_int(a, ("ai.usage.totalTokens",)),
        reasoning_tokens=first_int(a, ("ai.usage.outputTokenDetails.reasoningTokens", "ai.usage.reasoningTokens")),
        cache_read_tokens=first_int(a, ("ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.cachedInputTokens")),
        cache_write_tokens=first_int(a, ("ai.usage.inputTokenDetails.cacheWriteTokens",)),
    )
    if u.input_tokens is None and u.output_tokens is None:
        g = otel_genai.usage(a)
        u.input_tokens, u.output_tokens = g.input_tokens, g.output_tokens
    ant = pm.get("anthropic")
    if isinstance(ant, dict):
        if u.cache_write_tokens is None:
            u.cache_write_tokens = as_int(ant.get("cacheCreationInputTokens"))
        if u.cache_read_tokens is None:
            u.cache_read_tokens = as_int(ant.get("cacheReadInputTokens"))
    oai = pm.get("openai")
    if isinstance(oai, dict):
        if u.cache_read_tokens is None:
            u.cache_read_tokens = as_int(oai.get("cachedPromptTokens"))
        if u.reasoning_tokens is None:
            u.reasoning_tokens = as_int(oai.get("reasoningTokens"))
    br = pm.get("bedrock")
    if isinstance(br, dict) and isinstance(br.get("usage"), dict):
        bu = br["usage"]
        if u.cache_write_tokens is None:
            u.cache_write_tokens = as_int(bu.get("cacheWriteInputTokens"))
        if u.cache_read_tokens is None:
            u.cache_read_tokens = as_int(bu.get("cacheReadInputTokens"))
    return u


def _prompt(a: Mapping[str, Any], f: GenAIFields) -> None:
    raw = a.get("ai.prompt.messages")
    if raw is not None:
        sys_parts, ins = M.inputs(raw)
        f.system_instructions, f.input_messages = sys_parts, ins
        return
    p = loads(a.get("ai.prompt"))
    if isinstance(p, dict):
        sys_parts = M.system_parts(p.get("system"))
        if p.get("messages") is not None:
            s2, ins = M.inputs(p.get("messages"))
        elif p.get("prompt") is not None:
            s2, ins = M.inputs(p.get("prompt"))
        else:
            s2, ins = [], []
        f.system_instructions, f.input_messages = sys_parts + s2, ins
    elif isinstance(a.get("ai.prompt"), str):
        f.input_messages = [{"role": "user", "parts": [M.text_part(a["ai.prompt"])]}]


def _response(a: Mapping[str, Any], f: GenAIFields) -> None:
    parts: list[dict[str, Any]] = []
    reasoning = a.get("ai.response.reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"type": "reasoning", "content": reasoning})
    text = first(a, ("ai.response.text", "ai.result.text"))
    if isinstance(text, str) and text:
        parts.append(M.text_part(text))
    obj = first(a, ("ai.response.object", "ai.result.object"))
    if obj is not None and not parts:
        parts.append(M.text_part(obj if isinstance(obj, str) else M.dumps(obj)))
    calls = loads(first(a, ("ai.response.toolCalls", "ai.result.toolCalls")))
    if isinstance(calls, list):
        for c in calls[:1000]:
            if isinstance(c, dict):
                parts.append(
                    M.tool_call_part(c.get("toolCallId"), c.get("toolName"), c.get("input", c.get("args")))
                )
    fr = first(a, ("ai.response.finishReason", "ai.finishReason"))
    f.finish_reasons = finish_reasons(fr) or f.finish_reasons
    if parts:
        msg: dict[str, Any] = {"role": "assistant", "parts": parts}
        if f.finish_reasons:
            msg["finish_reason"] = f.finish_reasons[0]
        f.output_messages = [msg]


def _embed_inputs(a: Mapping[str, Any], f: GenAIFields) -> None:
    vals = first(a, ("ai.values", "ai.value"))
    if vals is None:
        return
    items = vals if isinstance(vals, list) else [vals]
    parts = []
    for v in items[:1000]:
        parsed = loads(v) if isinstance(v, str) else v
        parts.append(M.text_part(parsed if parsed is not None else v))
    f.input_messages = [{"role": "user", "parts": parts}]


def extract(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = otel_genai.extract_base(span)
    op = _operation_id(span)
    pm = _provider_metadata(a)
    f.provider = first_str(a, ("ai.model.provider", "gen_ai.system", "gen_ai.provider.name")) or f.provider
    f.request_model = first_str(a, ("ai.model.id", "gen_ai.request.model")) or f.request_model
    f.response_model = first_str(a, ("ai.response.model", "gen_ai.response.model")) or f.response_model
    f.response_id = first_str(a, ("ai.response.id", "gen_ai.response.id")) or f.response_id
    f.usage = _usage(a, pm)
    f.temperature = first_float(a, ("ai.settings.temperature", "gen_ai.request.temperature"))
    f.max_tokens = first_int(a, ("ai.settings.maxOutputTokens", "ai.settings.maxTokens", "gen_ai.request.max_tokens"))
    f.top_p = first_float(a, ("ai.settings.topP", "gen_ai.request.top_p"))
    f.seed = first_int(a, ("ai.settings.seed",))
    ms = first(a, ("ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"))
    ttft = as_float(ms)
    if ttft is not None:
        f.time_to_first_token_s = ttft / 1000.0
    f.stream = "stream" in op.lower() if op else None

    inner = op.endswith(_INNER)
    if op == "ai.toolCall" or "ai.toolCall.name" in a:
        f.span_type, f.operation = SpanType.TOOL, "execute_tool"
        f.tool_name = first_str(a, ("ai.toolCall.name", "gen_ai.tool.name"))
        call_id = first_str(a, ("ai.toolCall.id", "gen_ai.tool.call.id"))
        args = first(a, ("ai.toolCall.args", "ai.toolCall.input"))
        result = first(a, ("ai.toolCall.result", "ai.toolCall.output"))
        if args is not None:
            f.input_messages = [{"role": "assistant", "parts": [M.tool_call_part(call_id, f.tool_name, args)]}]
        if result is not None:
            parsed = loads(result) if isinstance(result, str) else None
            f.output_messages = [
                {"role": "tool", "parts": [M.tool_response_part(call_id, parsed if parsed is not None else result)]}
            ]
        f.stream = None
        return f

    is_embed = ".embed" in op or op.startswith("ai.embed")
    if is_embed:
        _embed_inputs(a, f)
    else:
        _prompt(a, f)
        _response(a, f)
        defs = a.get("ai.prompt.tools")
        if defs is not None:
            items = defs if isinstance(defs, list) else [defs]
            f.tool_definitions = [d for d in (loads(x) if isinstance(x, str) else x for x in items[:1000]) if isinstance(d, dict)]

    if inner:
        f.span_type = SpanType.EMBEDDING if is_embed else SpanType.LLM
        f.operation = "embeddings" if is_embed else "chat"
        f.counts_usage = True
    else:
        f.span_type, f.operation = SpanType.CHAIN, None
        f.counts_usage = False
    return f
