"""OTel GenAI semconv v1.27-v1.41 (`otel_genai`)."""

from __future__ import annotations

import json

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split, text


def test_v1_38_anthropic_chat_structured_messages_and_cache():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.response.id": "msg_01",
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.seed": 7,
            "gen_ai.response.finish_reasons": ["end_turn"],
            # semconv >= 1.38: input_tokens includes cached tokens.
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 100,
            "gen_ai.usage.output_tokens": 50,
            "gen_ai.conversation.id": "conv-1",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are terse."}]),
            # structured AnyValue rather than a JSON string
            "gen_ai.input.messages": [
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "t1", "name": "weather", "arguments": {"city": "Paris"}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t1", "response": "rain"}]},
            ],
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Rainy."}], "finish_reason": "end_turn"}]
            ),
            "gen_ai.tool.definitions": json.dumps([{"type": "function", "name": "weather"}]),
            "gen_ai.response.time_to_first_chunk": 0.25,
        },
        name="chat claude-sonnet-4-5",
    )
    f = run(s, "otel_genai")
    assert f.span_type is SpanType.LLM and f.operation == "chat"
    assert f.provider == "anthropic"
    assert (f.request_model, f.response_model, f.response_id) == ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "msg_01")
    assert (f.temperature, f.max_tokens, f.top_p, f.seed) == (0.5, 1024, 0.9, 7)
    assert f.usage.input_includes_cache is True
    assert split(f) == (100, 1000, 100, 50, 0)
    assert f.usage.total_tokens == 1250
    assert f.finish_reasons == ["stop"]
    assert f.session_id == "conv-1"
    assert f.system_instructions == [text("You are terse.")]
    assert [m["role"] for m in f.input_messages] == ["user", "assistant", "tool"]
    assert f.input_messages[1]["parts"][0] == {"type": "tool_call", "id": "t1", "name": "weather", "arguments": {"city": "Paris"}}
    assert f.output_messages == [{"role": "assistant", "parts": [text("Rainy.")], "finish_reason": "stop"}]
    assert f.tool_definitions == [{"type": "function", "name": "weather"}]
    assert f.time_to_first_token_s == 0.25
    assert f.counts_usage is True


def test_v1_28_deprecated_keys_and_span_events():
    s = span(
        {
            "gen_ai.system": "az.ai.openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 80,
            "gen_ai.usage.completion_tokens": 20,
            "gen_ai.response.finish_reasons": '["tool_calls"]',
        },
        events=[
            ("gen_ai.system.message", {"gen_ai.event.content": json.dumps({"role": "system", "content": "Be kind."})}),
            ("gen_ai.user.message", {"gen_ai.event.content": json.dumps({"content": "Add 2+2"})}),
            (
                "gen_ai.choice",
                {
                    "gen_ai.event.content": json.dumps(
                        {
                            "index": 0,
                            "finish_reason": "tool_calls",
                            "message": {
                                "role": "assistant",
                                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":2,"b":2}'}}],
                            },
                        }
                    )
                },
            ),
        ],
    )
    f = run(s, "otel_genai")
    assert f.provider == "azure"
    assert (f.usage.input_tokens, f.usage.output_tokens, f.usage.total_tokens) == (80, 20, 100)
    assert f.finish_reasons == ["tool_call"]
    assert f.system_instructions == [text("Be kind.")]
    assert f.input_messages == [{"role": "user", "parts": [text("Add 2+2")]}]
    assert f.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "add", "arguments": {"a": 2, "b": 2}}],
            "finish_reason": "tool_call",
        }
    ]


def test_deprecated_prompt_completion_json_openai_shape():
    s = span(
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
            "gen_ai.prompt": json.dumps([{"role": "system", "content": "sys"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]),
            "gen_ai.completion": json.dumps([{"role": "assistant", "content": "hello", "finish_reason": "stop"}]),
        }
    )
    f = run(s, "otel_genai")
    # no operation but usage -> an LLM call, operation defaults to chat
    assert f.span_type is SpanType.LLM and f.operation == "chat"
    assert f.system_instructions == [text("sys")]
    assert f.input_messages == [{"role": "user", "parts": [text("hi")]}]
    assert f.output_messages == [{"role": "assistant", "parts": [text("hello")], "finish_reason": "stop"}]


def test_inference_details_event_v1_37():
    s = span(
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4.1"},
        events=[
            (
                "gen_ai.client.inference.operation.details",
                {
                    "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "q"}]}],
                    "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "a"}], "finish_reason": "length"}],
                },
            )
        ],
    )
    f = run(s, "otel_genai")
    assert f.span_type is SpanType.LLM
    assert f.input_messages == [{"role": "user", "parts": [text("q")]}]
    assert f.output_messages[0]["finish_reason"] == "length"
    assert f.finish_reasons == ["length"]


def test_execute_tool():
    s = span(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"city":"Oslo"}',
            "gen_ai.tool.call.result": '{"temp": 3}',
        },
        name="execute_tool get_weather",
    )
    f = run(s, "otel_genai")
    assert f.span_type is SpanType.TOOL and f.operation == "execute_tool"
    assert f.tool_name == "get_weather"
    assert f.input_messages[0]["parts"][0] == {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    assert f.output_messages[0] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"temp": 3}}]}
    assert f.counts_usage is False


def test_invoke_agent_usage_is_aggregate_not_counted():
    s = span(
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "planner",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 500,
            "gen_ai.usage.output_tokens": 100,
        }
    )
    f = run(s, "otel_genai")
    assert f.span_type is SpanType.AGENT and f.operation == "invoke_agent"
    assert f.agent_name == "planner"
    assert f.counts_usage is False


def test_create_agent_embeddings_retrieval():
    f = run(span({"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "a"}), "otel_genai")
    assert f.span_type is SpanType.AGENT and f.operation == "create_agent"
    f = run(
        span({"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 9}),
        "otel_genai",
    )
    assert f.span_type is SpanType.EMBEDDING and f.operation == "embeddings" and f.provider == "openai"
    assert f.counts_usage is True
    f = run(
        span(
            {
                "gen_ai.operation.name": "retrieval",
                "gen_ai.provider.name": "openai",
                "gen_ai.retrieval.query.text": "capital of France",
                "gen_ai.retrieval.documents": json.dumps([{"id": "d1", "score": 0.9, "content": "Paris"}]),
            }
        ),
        "otel_genai",
    )
    assert f.span_type is SpanType.RETRIEVER and f.operation == "retrieval"
    assert f.documents == [{"id": "d1", "content": "Paris", "score": 0.9, "metadata": {}}]
    assert f.input_messages == [{"role": "user", "parts": [text("capital of France")]}]


def test_model_alone_is_not_an_llm_call():
    f = run(span({"gen_ai.request.model": "gpt-4o"}), "otel_genai")
    assert f.span_type is SpanType.OTHER
    assert f.operation is None
    assert f.counts_usage is False
    assert f.provider == "openai"  # still inferred from the model


def test_openai_compatible_host_refines_provider():
    f = run(
        span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "llama-3.3-70b-versatile",
                "server.address": "api.groq.com",
                "gen_ai.usage.input_tokens": 1,
                "gen_ai.usage.output_tokens": 1,
            }
        ),
        "otel_genai",
    )
    assert f.provider == "groq"
