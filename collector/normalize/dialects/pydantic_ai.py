"""pydantic-ai / Logfire (`pydantic_ai`).

Scope ``pydantic-ai``.  Model-request spans (``chat <model>``) carry semconv
keys plus ``gen_ai.usage.details.*`` (cache_read_tokens, cache_write_tokens,
reasoning_tokens, ...), ``operation.cost`` (price computed with genai-prices,
kept as the sender-reported cost) and ``model_request_parameters`` (tool
definitions).  Content is ``gen_ai.input.messages`` / ``gen_ai.output.messages``
(instrumentation version >= 2) or an ``events`` JSON list (version 1).
Agent-run spans (``agent run`` / ``invoke_agent <name>``) carry the run's
summed usage, ``final_result`` and ``pydantic_ai.all_messages``: typed AGENT
and never counted.  Tool spans (``running tool`` / ``execute_tool``) carry
``gen_ai.tool.name``, ``tool_arguments`` / ``tool_response``.
pydantic-ai's input_tokens include cache and output_tokens include thinking.
"""

from __future__ import annotations

from typing import Any, Mapping

from collector.normalize import messages as M
from collector.normalize.canonical import GenAIFields, SpanType
from collector.normalize.dialects import otel_genai
from collector.normalize.dialects._util import as_decimal, first, first_int, first_str, loads
from collector.normalize.dialects.base import SpanView

name = "pydantic_ai"


def detect(span: SpanView) -> bool:
    s = span.scope_name.lower() if isinstance(span.scope_name, str) else ""
    if s.startswith(("pydantic-ai", "pydantic_ai")):
        return True
    a = span.attributes
    return "pydantic_ai.all_messages" in a or "model_request_parameters" in a


def _events(value: Any, f: GenAIFields) -> None:
    """Version-1 ``events`` attribute: [{"event.name": "gen_ai.user.message", "role":..., "content":...}, ...]."""
    evs = loads(value)
    if not isinstance(evs, list):
        return
    ins: list[dict[str, Any]] = []
    outs: list[dict[str, Any]] = []
    for ev in evs[:2000]:
        if not isinstance(ev, dict):
            continue
        ename = ev.get("event.name")
        if ename == "gen_ai.choice":
            m = M.message(ev.get("message", ev), "assistant")
            if m:
                fr = M.finish_reason(ev.get("finish_reason"))
                if fr:
                    m["finish_reason"] = fr
                outs.append(m)
            continue
        body = dict(ev)
        if ename == "gen_ai.tool.message" and "id" in body:
            body.setdefault("tool_call_id", body["id"])
        m = M.message(body, "user")
        if m:
            ins.append(m)
    sys_parts, rest = M.split_system(ins)
    f.system_instructions = f.system_instructions or sys_parts
    f.input_messages = f.input_messages or rest
    f.output_messages = f.output_messages or outs


def _tools(value: Any) -> list[dict[str, Any]]:
    p = loads(value)
    if not isinstance(p, dict):
        return []
    out = []
    for t in (p.get("function_tools") or []) + (p.get("output_tools") or []):
        if isinstance(t, dict):
            out.append(
                {
                    "type": "function",
                    "name": t.get("name"),
                    "description": t.get("description"),
                    "parameters": t.get("parameters_json_schema", t.get("parameters")),
                }
            )
    return out


def _details(a: Mapping[str, Any], f: GenAIFields) -> None:
    u = f.usage
    if u.cache_read_tokens is None:
        u.cache_read_tokens = first_int(a, ("gen_ai.usage.details.cache_read_tokens", "gen_ai.usage.details.cache_read_input_tokens"))
    if u.cache_write_tokens is None:
        u.cache_write_tokens = first_int(a, ("gen_ai.usage.details.cache_write_tokens", "gen_ai.usage.details.cache_creation_input_tokens"))
    if u.reasoning_tokens is None:
        u.reasoning_tokens = first_int(a, ("gen_ai.usage.details.reasoning_tokens", "gen_ai.usage.details.thoughts_tokens"))


def extract(span: SpanView) -> GenAIFields:
    a = span.attributes
    f = otel_genai.extract_base(span)
    _details(a, f)
    f.provider_cost_usd = as_decimal(a.get("operation.cost"))
    if "events" in a:
        _events(a.get("events"), f)
    if not f.tool_definitions and "model_request_parameters" in a:
        f.tool_definitions = _tools(a.get("model_request_parameters"))

    is_agent = (
        f.operation == "invoke_agent"
        or span.name == "agent run"
        or "final_result" in a
        or "pydantic_ai.all_messages" in a
    )
    if is_agent:
        f.span_type, f.operation = SpanType.AGENT, "invoke_agent"
        f.agent_name = first_str(a, ("gen_ai.agent.name", "agent_name")) or f.agent_name
        if not f.input_messages:
            sys_parts, f.input_messages = M.inputs(first(a, ("pydantic_ai.all_messages", "all_messages_events")))
            f.system_instructions = f.system_instructions or sys_parts
        res = a.get("final_result")
        if res is not None and not f.output_messages:
            f.output_messages = [M.assistant_text(res)]
    elif f.operation == "embeddings" and not f.input_messages and a.get("inputs") is not None:
        vals = loads(a.get("inputs"))
        items = vals if isinstance(vals, list) else [a.get("inputs")]
        f.input_messages = [{"role": "user", "parts": [M.text_part(v) for v in items[:1000]]}]
    elif f.tool_name and (f.operation == "execute_tool" or span.name == "running tool" or "tool_arguments" in a):
        f.span_type, f.operation = SpanType.TOOL, "execute_tool"
        otel_genai.tool_io(a, f)
    return f
