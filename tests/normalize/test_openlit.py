"""OpenLIT (`openlit`)."""

from __future__ import annotations

from decimal import Decimal

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split, text

RES = {"telemetry.sdk.name": "openlit", "service.name": "app"}


def test_chat_with_cost_ttft_stream():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.request.is_stream": True,
            "gen_ai.server.time_to_first_token": 0.31,
            "gen_ai.usage.input_tokens": 30,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.client.token.usage": 39,
            "gen_ai.usage.cost": 0.0000099,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.request.user": "u-1",
        },
        name="chat gpt-4o-mini",
        scope="openlit.instrumentation.openai",
        resource=RES,
    )
    f = run(s, "openlit")
    assert f.span_type is SpanType.LLM and f.stream is True
    assert f.time_to_first_token_s == 0.31
    assert f.provider_cost_usd == Decimal("0.0000099")
    assert f.usage.total_tokens == 39
    assert f.user_id == "u-1"


def test_legacy_content_events_and_anthropic_native_tokens():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-latest",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.cache_read.input_tokens": 100,
            "gen_ai.usage.output_tokens": 8,
            "gen_ai.response.finish_reasons": ["end_turn"],
        },
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": "user: hi there"}),
            ("gen_ai.content.completion", {"gen_ai.completion": "hello!"}),
        ],
        resource=RES,
    )
    f = run(s, "openlit")
    assert split(f) == (12, 100, 0, 8, 0)
    assert f.input_messages == [{"role": "user", "parts": [text("user: hi there")]}]
    assert f.output_messages == [{"role": "assistant", "parts": [text("hello!")], "finish_reason": "stop"}]


def test_app_span_in_openlit_service_is_not_genai():
    name, _ = __import__("collector.normalize.dialects", fromlist=["extract_genai"]).extract_genai(
        span({"http.route": "/x"}, resource=RES)
    )
    assert name == "none"
