"""Never raise, stay fast, count usage once."""

from __future__ import annotations

import json
import time

from collector.normalize.canonical import GenAIFields, SpanType
from collector.normalize.dialects import DIALECTS, extract_genai
from collector.normalize.dialects.base import SpanEvent, SpanView

from ._helpers import span

GARBAGE_VALUES = [
    None,
    "",
    "[",
    "{\"a\":",
    "null",
    "[1, 2, {]",
    b"\xff\xfe",
    -5,
    float("nan"),
    float("inf"),
    True,
    [None, {"role": 5, "parts": "x"}, ["deep"]],
    {"role": None, "content": {"type": 3}},
    "9" * 5000,
    {"k": [{"k": [{"k": "v"}]}]},
]

KEYS = [
    "gen_ai.operation.name",
    "gen_ai.system",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.total_tokens",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.response.finish_reasons",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.tool_calls.0.name",
    "llm.request.type",
    "openinference.span.kind",
    "llm.input_messages.0.message.role",
    "llm.invocation_parameters",
    "llm.cost.total",
    "retrieval.documents.0.document.id",
    "ai.operationId",
    "ai.prompt.messages",
    "ai.response.toolCalls",
    "ai.response.providerMetadata",
    "ai.usage.inputTokens",
    "ai.response.msToFirstChunk",
    "operation.cost",
    "pydantic_ai.all_messages",
    "events",
    "langsmith.span.kind",
    "gen_ai.usage.input_token_details",
    "gen_ai.latency.e2e",
    "gen_ai.usage.cost",
    "metadata",
]


def test_garbage_values_never_raise():
    for key in KEYS:
        for v in GARBAGE_VALUES:
            name, f = extract_genai(span({key: v, "gen_ai.operation.name": "chat"}))
            assert isinstance(f, GenAIFields)
            name, f = extract_genai(span({key: v}, scope="pydantic-ai", resource={"telemetry.sdk.name": "openlit"}))
            assert isinstance(f, GenAIFields)


def test_every_dialect_extract_survives_garbage_on_its_own():
    """Each dialect's extract() itself (not only the registry's guard)."""
    for v in GARBAGE_VALUES:
        attrs = {k: v for k in KEYS}
        for d in DIALECTS:
            assert isinstance(d.extract(span(attrs, scope="pydantic-ai")), GenAIFields), d.name
        for k in KEYS:
            for d in DIALECTS:
                assert isinstance(d.extract(span({k: v})), GenAIFields), (d.name, k, v)


def test_malformed_spanview_and_events():
    bad = SpanView(name=None, kind="x", attributes=None, resource=None, scope_name=None, events=[None, SpanEvent("gen_ai.user.message", 0, None)])  # type: ignore[arg-type]
    name, f = extract_genai(bad)
    assert isinstance(f, GenAIFields)
    name, f = extract_genai(
        span({"gen_ai.system": "openai"}, events=[("gen_ai.choice", {"gen_ai.event.content": "{bad"}), ("gen_ai.user.message", {"body": 5})])
    )
    assert name == "otel_genai"


def test_invalid_json_messages_kept_as_text():
    name, f = extract_genai(span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[{broken"}))
    assert name == "otel_genai"
    assert f.input_messages == [{"role": "user", "parts": [{"type": "text", "content": "[{broken"}]}]


def test_ten_thousand_attributes_fast():
    attrs = {f"custom.attr.{i}": i for i in range(10_000)}
    attrs.update({"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1})
    s = span(attrs)
    t0 = time.perf_counter()
    for _ in range(100):
        name, f = extract_genai(s)
    assert name == "otel_genai" and f.usage.input_tokens == 5
    assert time.perf_counter() - t0 < 1.0


def test_deeply_nested_values():
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    deep_json = "[" * 3000 + "]" * 3000
    s = span({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3, "gen_ai.input.messages": deep_json, "gen_ai.output.messages": deep, "gen_ai.tool.definitions": deep_json})
    from collector.normalize.dialects import otel_genai

    f = otel_genai.extract(s)  # the dialect itself copes, no registry fallback needed
    assert f.usage.input_tokens == 3
    name, f = extract_genai(s)
    assert name == "otel_genai" and f.span_type is SpanType.LLM


def test_huge_values():
    big = json.dumps([{"role": "user", "content": "x" * 2_000_000}])
    name, f = extract_genai(span({"gen_ai.operation.name": "chat", "gen_ai.prompt": big, "gen_ai.usage.input_tokens": 10**15}))
    assert f.input_messages[0]["parts"][0]["content"] == "x" * 2_000_000
    assert f.usage.input_tokens == 10**15


def test_no_dialect():
    name, f = extract_genai(span({"http.method": "GET", "user.id": "u"}))
    assert name == "none"
    assert f.span_type is SpanType.OTHER and f.user_id == "u"
    assert extract_genai(span({}))[0] == "none"
