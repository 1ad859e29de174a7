"""pydantic-ai / Logfire (`pydantic_ai`)."""

from __future__ import annotations

import json
from decimal import Decimal

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split, text


def test_chat_span_usage_details_cost():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-0",
            "gen_ai.response.model": "claude-sonnet-4-20250514",
            "gen_ai.agent.name": "support",
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "thinking", "content": "hm"}, {"type": "text", "content": "hey"}], "finish_reason": "stop"}]),
            "gen_ai.usage.input_tokens": 1210,  # pydantic-ai includes cache in input_tokens
            "gen_ai.usage.output_tokens": 80,  # ... and thinking in output_tokens
            "gen_ai.usage.details.cache_read_tokens": 1000,
            "gen_ai.usage.details.cache_write_tokens": 200,
            "gen_ai.usage.details.reasoning_tokens": 50,
            "operation.cost": 0.0042,
            "model_request_parameters": json.dumps({"function_tools": [{"name": "f", "description": "d", "parameters_json_schema": {"type": "object"}}]}),
        },
        name="chat claude-sonnet-4-0",
        scope="pydantic-ai",
    )
    f = run(s, "pydantic_ai")
    assert f.span_type is SpanType.LLM and f.provider == "anthropic" and f.agent_name == "support"
    assert split(f) == (10, 1000, 200, 30, 50)
    assert f.provider_cost_usd == Decimal("0.0042")
    assert f.output_messages[0]["parts"][0] == {"type": "reasoning", "content": "hm"}
    assert f.tool_definitions == [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}]


def test_agent_run_span_not_counted():
    s = span(
        {
            "agent_name": "support",
            "gen_ai.agent.name": "support",
            "logfire.msg": "support run",
            "gen_ai.usage.input_tokens": 3000,
            "gen_ai.usage.output_tokens": 200,
            "final_result": "done",
            "pydantic_ai.all_messages": json.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": "sys"}]},
                    {"role": "user", "parts": [{"type": "text", "content": "go"}]},
                ]
            ),
            "metadata": json.dumps({"user_id": "u-1", "session_id": "s-1"}),
        },
        name="agent run",
        scope="pydantic-ai",
    )
    f = run(s, "pydantic_ai")
    assert f.span_type is SpanType.AGENT and f.operation == "invoke_agent" and f.agent_name == "support"
    assert f.counts_usage is False
    assert f.system_instructions == [text("sys")]
    assert f.input_messages == [{"role": "user", "parts": [text("go")]}]
    assert f.output_messages == [{"role": "assistant", "parts": [text("done")]}]
    assert (f.user_id, f.session_id) == ("u-1", "s-1")


def test_v1_events_attribute_and_running_tool():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.output_tokens": 2,
            "events": json.dumps(
                [
                    {"event.name": "gen_ai.system.message", "role": "system", "content": "sys", "gen_ai.message.index": 0},
                    {"event.name": "gen_ai.user.message", "role": "user", "content": "hello", "gen_ai.message.index": 0},
                    {"event.name": "gen_ai.choice", "index": 0, "message": {"role": "assistant", "content": "hi"}},
                ]
            ),
        },
        scope="pydantic-ai",
    )
    f = run(s, "pydantic_ai")
    assert f.system_instructions == [text("sys")]
    assert f.input_messages == [{"role": "user", "parts": [text("hello")]}]
    assert f.output_messages == [{"role": "assistant", "parts": [text("hi")]}]
    t = run(
        span({"gen_ai.tool.name": "calc", "gen_ai.tool.call.id": "c", "tool_arguments": '{"a": 1}', "tool_response": "2", "logfire.msg": "running tool: calc"}, name="running tool", scope="pydantic-ai"),
        "pydantic_ai",
    )
    assert t.span_type is SpanType.TOOL and t.tool_name == "calc"
    assert t.output_messages == [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c", "response": "2"}]}]
