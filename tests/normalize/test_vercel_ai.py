"""Vercel AI SDK v3-v6 (`vercel_ai`)."""

from __future__ import annotations

import json

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split, text

META = {"ai.telemetry.functionId": "support-bot", "ai.telemetry.metadata.userId": "u-7", "ai.telemetry.metadata.sessionId": "s-7"}


def _pair_v5_anthropic():
    inner = span(
        {
            **META,
            "operation.name": "ai.generateText.doGenerate support-bot",
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "claude-sonnet-4-20250514",
            "ai.model.provider": "anthropic.messages",
            "ai.settings.maxOutputTokens": 256,
            "ai.settings.temperature": 0.3,
            "ai.prompt.messages": json.dumps(
                [
                    {"role": "system", "content": "You help."},
                    {"role": "user", "content": [{"type": "text", "text": "Refund?"}]},
                    {"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "t1", "toolName": "lookup", "input": {"id": 4}}]},
                    {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "t1", "toolName": "lookup", "output": {"type": "json", "value": {"ok": True}}}]},
                ]
            ),
            "ai.response.text": "Yes, refunded.",
            "ai.response.finishReason": "stop",
            "ai.response.id": "msg_9",
            "ai.response.model": "claude-sonnet-4-20250514",
            # v5 passes Anthropic's numbers: input excludes cache
            "ai.usage.inputTokens": 25,
            "ai.usage.outputTokens": 15,
            "ai.usage.totalTokens": 40,
            "ai.usage.cachedInputTokens": 4000,
            "ai.response.providerMetadata": json.dumps({"anthropic": {"cacheCreationInputTokens": 300}}),
            "gen_ai.system": "anthropic.messages",
            "gen_ai.request.model": "claude-sonnet-4-20250514",
            "gen_ai.usage.input_tokens": 25,
            "gen_ai.usage.output_tokens": 15,
        },
        name="ai.generateText.doGenerate",
        scope="ai",
    )
    outer = span(
        {
            **META,
            "operation.name": "ai.generateText support-bot",
            "ai.operationId": "ai.generateText",
            "ai.model.id": "claude-sonnet-4-20250514",
            "ai.model.provider": "anthropic.messages",
            "ai.prompt": json.dumps({"system": "You help.", "prompt": "Refund?"}),
            "ai.response.text": "Yes, refunded.",
            "ai.usage.inputTokens": 25,
            "ai.usage.outputTokens": 15,
            "ai.usage.cachedInputTokens": 4000,
        },
        name="ai.generateText",
        scope="ai",
    )
    return inner, outer


def test_v5_anthropic_do_generate():
    inner, _ = _pair_v5_anthropic()
    f = run(inner, "vercel_ai")
    assert f.span_type is SpanType.LLM and f.operation == "chat" and f.counts_usage is True
    assert f.provider == "anthropic"
    assert f.request_model == "claude-sonnet-4-20250514" and f.response_id == "msg_9"
    assert (f.max_tokens, f.temperature, f.stream) == (256, 0.3, False)
    assert f.usage.input_includes_cache is False
    assert split(f) == (25, 4000, 300, 15, 0)
    assert f.system_instructions == [text("You help.")]
    assert [m["role"] for m in f.input_messages] == ["user", "assistant", "tool"]
    assert f.input_messages[1]["parts"][0] == {"type": "tool_call", "id": "t1", "name": "lookup", "arguments": {"id": 4}}
    assert f.input_messages[2]["parts"][0] == {"type": "tool_call_response", "id": "t1", "response": {"ok": True}}
    assert f.output_messages == [{"role": "assistant", "parts": [text("Yes, refunded.")], "finish_reason": "stop"}]
    assert (f.user_id, f.session_id) == ("u-7", "s-7")


def test_outer_and_inner_count_usage_once():
    inner, outer = _pair_v5_anthropic()
    fi, fo = run(inner, "vercel_ai"), run(outer, "vercel_ai")
    assert fo.span_type is SpanType.CHAIN and fo.counts_usage is False
    counted = [f for f in (fi, fo) if f.counts_usage]
    assert len(counted) == 1
    assert sum(f.usage.split().input_total for f in counted) == 25 + 4000 + 300
    assert fo.system_instructions == [text("You help.")]
    assert fo.input_messages == [{"role": "user", "parts": [text("Refund?")]}]


def test_v4_stream_prompt_tokens_and_ttft_and_openai_metadata():
    s = span(
        {
            "operation.name": "ai.streamText.doStream",
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.id": "gpt-4o",
            "ai.model.provider": "openai.chat",
            "ai.usage.promptTokens": 900,
            "ai.usage.completionTokens": 120,
            "ai.response.msToFirstChunk": 412.5,
            "ai.response.finishReason": "tool-calls",
            "ai.response.toolCalls": json.dumps([{"toolCallType": "function", "toolCallId": "c1", "toolName": "search", "args": '{"q":"x"}'}]),
            "ai.response.providerMetadata": json.dumps({"openai": {"cachedPromptTokens": 512, "reasoningTokens": 0}}),
        },
        name="ai.streamText.doStream",
    )
    f = run(s, "vercel_ai")
    assert f.stream is True and f.time_to_first_token_s == 0.4125
    assert f.provider == "openai"
    assert split(f) == (388, 512, 0, 120, 0)
    assert f.finish_reasons == ["tool_call"]
    assert f.output_messages[0]["parts"] == [{"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": "x"}}]


def test_v6_details_inclusive():
    s = span(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "claude-opus-4-1",
            "ai.model.provider": "anthropic.messages",
            "ai.usage.inputTokens": 5300,
            "ai.usage.inputTokenDetails.noCacheTokens": 300,
            "ai.usage.inputTokenDetails.cacheReadTokens": 4000,
            "ai.usage.inputTokenDetails.cacheWriteTokens": 1000,
            "ai.usage.outputTokens": 90,
            "ai.usage.outputTokenDetails.textTokens": 60,
            "ai.usage.outputTokenDetails.reasoningTokens": 30,
            "ai.usage.totalTokens": 5390,
        }
    )
    f = run(s, "vercel_ai")
    assert (f.usage.input_includes_cache, f.usage.output_includes_reasoning) == (True, True)
    assert split(f) == (300, 4000, 1000, 60, 30)


def test_v5_google_reasoning_outside_output():
    s = span(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "gemini-2.5-flash",
            "ai.model.provider": "google.generative-ai",
            "ai.usage.inputTokens": 50,
            "ai.usage.outputTokens": 10,
            "ai.usage.reasoningTokens": 90,
            "ai.usage.totalTokens": 150,
        }
    )
    f = run(s, "vercel_ai")
    assert f.provider == "google" and f.usage.output_includes_reasoning is False
    assert split(f) == (50, 0, 0, 10, 90)


def test_tool_call_span_and_embed_pair():
    t = run(
        span(
            {
                "operation.name": "ai.toolCall",
                "ai.operationId": "ai.toolCall",
                "ai.toolCall.name": "lookup",
                "ai.toolCall.id": "t1",
                "ai.toolCall.args": '{"id": 4}',
                "ai.toolCall.result": '{"ok": true}',
            }
        ),
        "vercel_ai",
    )
    assert t.span_type is SpanType.TOOL and t.tool_name == "lookup" and t.counts_usage is False
    assert t.output_messages[0]["parts"][0]["response"] == {"ok": True}
    e_in = run(span({"ai.operationId": "ai.embed.doEmbed", "ai.model.id": "text-embedding-3-small", "ai.model.provider": "openai.embedding", "ai.value": '"hello"', "ai.usage.tokens": 2}), "vercel_ai")
    e_out = run(span({"ai.operationId": "ai.embed", "ai.model.id": "text-embedding-3-small", "ai.value": '"hello"', "ai.usage.tokens": 2}), "vercel_ai")
    assert e_in.span_type is SpanType.EMBEDDING and e_in.counts_usage and e_in.usage.input_tokens == 2
    assert e_in.input_messages == [{"role": "user", "parts": [text("hello")]}]
    assert e_out.counts_usage is False


def test_vercel_wins_over_otel_and_openinference_markers():
    s = span(
        {
            "ai.operationId": "ai.generateText",
            "gen_ai.system": "openai.chat",
            "gen_ai.usage.input_tokens": 10,
            "openinference.span.kind": "LLM",
        }
    )
    f = run(s, "vercel_ai")
    assert f.counts_usage is False
