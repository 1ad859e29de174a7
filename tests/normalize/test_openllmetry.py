"""OpenLLMetry / Traceloop (`openllmetry`)."""

from __future__ import annotations

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split, text


def test_anthropic_chat_indexed_content_and_summed_cache():
    s = span(
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "completion",
            "gen_ai.request.model": "claude-3-5-haiku-20241022",
            "gen_ai.response.model": "claude-3-5-haiku-20241022",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You are a poet.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": '[{"type": "text", "text": "A haiku please"}]',
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Autumn moonlight...",
            "gen_ai.completion.0.finish_reason": "end_turn",
            # OpenLLMetry sums input + cache_read + cache_creation into input_tokens
            "gen_ai.usage.input_tokens": 2050,
            "gen_ai.usage.cache_read_input_tokens": 2000,
            "gen_ai.usage.cache_creation_input_tokens": 0,
            "gen_ai.usage.output_tokens": 30,
            "llm.usage.total_tokens": 2080,
            "traceloop.association.properties.session_id": "s-9",
            "traceloop.association.properties.user_id": "u-9",
        },
        name="anthropic.chat",
        scope="opentelemetry.instrumentation.anthropic",
    )
    f = run(s, "openllmetry")
    assert f.span_type is SpanType.LLM and f.operation == "chat"
    assert f.provider == "anthropic"
    assert f.usage.input_includes_cache is True
    assert split(f) == (50, 2000, 0, 30, 0)
    assert f.usage.total_tokens == 2080
    assert f.system_instructions == [text("You are a poet.")]
    assert f.input_messages == [{"role": "user", "parts": [text("A haiku please")]}]
    assert f.output_messages == [{"role": "assistant", "parts": [text("Autumn moonlight...")], "finish_reason": "stop"}]
    assert f.finish_reasons == ["stop"]
    assert (f.session_id, f.user_id) == ("s-9", "u-9")


def test_openai_tool_calls_and_functions():
    s = span(
        {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "llm.is_streaming": True,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "weather in Rome?",
            "gen_ai.prompt.1.role": "assistant",
            "gen_ai.prompt.1.tool_calls.0.id": "call_a",
            "gen_ai.prompt.1.tool_calls.0.name": "weather",
            "gen_ai.prompt.1.tool_calls.0.arguments": '{"city": "Rome"}',
            "gen_ai.prompt.2.role": "tool",
            "gen_ai.prompt.2.content": "sunny",
            "gen_ai.prompt.2.tool_call_id": "call_a",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_b",
            "gen_ai.completion.0.tool_calls.0.name": "forecast",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"days": 3}',
            "llm.request.functions.0.name": "weather",
            "llm.request.functions.0.description": "current weather",
            "llm.request.functions.0.parameters": '{"type": "object"}',
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.completion_tokens": 12,
            "llm.usage.total_tokens": 112,
        },
        name="openai.chat",
    )
    f = run(s, "openllmetry")
    assert f.stream is True
    assert f.input_messages[1] == {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_a", "name": "weather", "arguments": {"city": "Rome"}}]}
    assert f.input_messages[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_a", "response": "sunny"}]}
    assert f.output_messages[0]["parts"] == [{"type": "tool_call", "id": "call_b", "name": "forecast", "arguments": {"days": 3}}]
    assert f.finish_reasons == ["tool_call"]
    assert f.tool_definitions == [{"type": "function", "name": "weather", "description": "current weather", "parameters": {"type": "object"}}]
    assert split(f) == (100, 0, 0, 12, 0)


def test_workflow_task_agent_tool_spans():
    wf = run(span({"traceloop.span.kind": "workflow", "traceloop.entity.name": "pipeline", "traceloop.entity.input": '{"q": 1}'}), "openllmetry")
    assert wf.span_type is SpanType.CHAIN and wf.counts_usage is False
    assert wf.input_messages[0]["role"] == "user"
    ag = run(span({"traceloop.span.kind": "agent", "traceloop.entity.name": "researcher"}), "openllmetry")
    assert ag.span_type is SpanType.AGENT and ag.agent_name == "researcher" and ag.operation == "invoke_agent"
    tl = run(span({"traceloop.span.kind": "tool", "traceloop.entity.name": "search", "traceloop.entity.output": "ok"}), "openllmetry")
    assert tl.span_type is SpanType.TOOL and tl.tool_name == "search" and tl.operation == "execute_tool"


def test_embedding_request_type():
    f = run(
        span({"gen_ai.system": "openai", "llm.request.type": "embedding", "gen_ai.request.model": "text-embedding-3-large", "gen_ai.usage.prompt_tokens": 8}),
        "openllmetry",
    )
    assert f.span_type is SpanType.EMBEDDING and f.operation == "embeddings"
