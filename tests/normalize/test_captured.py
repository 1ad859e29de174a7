"""Real exports captured from the real instrumentation packages
(tests/fixtures/otlp/<source>/traces-NNN.json, see each README): the dialect
chosen and the key canonical fields.

Every capture uses the same fake OpenAI server and the same four scenarios:
001 chat, 002 streaming chat with a system prompt, 003 a tool round trip
(two model calls), 004 embeddings.  The fake always reports 16 cached prompt
tokens and 4 reasoning tokens inside its totals (OpenAI convention).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.normalize.canonical import SpanType
from collector.normalize.dialects import extract_genai

from .otlp_json import load_spans

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"

DIALECT = {
    "langsmith": "langsmith",
    "openai_v2_events": "otel_genai",
    "openai_v2_latest": "otel_genai",
    "openai_v2_nocontent": "otel_genai",
    "openinference": "openinference",
    "openlit": "openlit",
    "openllmetry": "openllmetry",
    "pydantic_ai": "pydantic_ai",
    "vercel_ai": "vercel_ai",
}
# Content lives in log records (events mode) or is switched off.
NO_SPAN_CONTENT = {"openai_v2_events", "openai_v2_nocontent"}
# (input, output) tokens of the counted model call(s) for scenarios 001/002.
FIRST_CALLS = {"traces-001.json": (28, 16), "traces-002.json": (36, 16)}

# vLLM's captures follow other scenarios (a real model server): see test_vllm.py.
FILES = sorted(p for p in ROOT.glob("*/traces-*.json") if p.parent.name != "vllm") if ROOT.is_dir() else []

pytestmark = pytest.mark.skipif(not FILES, reason="no captured OTLP fixtures present")


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_captured_export(path: Path) -> None:
    source = path.parent.name
    if source not in DIALECT:
        pytest.skip(f"no expectation for new capture source {source}")
    spans = load_spans(path)
    assert spans
    results = [(s, *extract_genai(s)) for s in spans]
    for s, name, _ in results:
        want = "none" if s.scope_name == "capture.app" else DIALECT[source]
        assert name == want, (s.name, s.scope_name, name)

    counted = [(s, f) for s, _, f in results if f.counts_usage and f.span_type in (SpanType.LLM, SpanType.EMBEDDING)]
    llm = [f for _, f in counted if f.span_type is SpanType.LLM]
    emb = [f for _, f in counted if f.span_type is SpanType.EMBEDDING]

    if path.name == "traces-004.json":
        assert len(emb) == 1 and not llm
        e = emb[0]
        if source == "langsmith":
            # The capture wraps embed_documents in @traceable: no model, no usage.
            assert e.input_messages and len(e.input_messages[0]["parts"]) == 2
            return
        assert e.request_model == "text-embedding-3-small" and e.provider == "openai"
        assert e.usage.input_tokens == 13
        return

    expected_calls = 2 if path.name == "traces-003.json" else 1
    assert len(llm) == expected_calls, [s.name for s, _ in counted]
    for f in llm:
        assert f.operation == "chat"
        assert f.provider == "openai"
        assert f.request_model == "gpt-4o-mini"
        assert f.response_model in (None, "gpt-4o-mini-2024-07-18")
        assert f.usage.input_tokens and f.usage.output_tokens
        assert f.usage.input_includes_cache and f.usage.output_includes_reasoning
        s = f.usage.split()
        if f.usage.cache_read_tokens:
            assert f.usage.cache_read_tokens == 16
            assert s.input_uncached == f.usage.input_tokens - 16
        if f.usage.reasoning_tokens:
            assert f.usage.reasoning_tokens == 4
            assert s.output_text == f.usage.output_tokens - 4
        if source not in NO_SPAN_CONTENT:
            assert f.input_messages, "content capture is on"
            assert f.output_messages
            for m in f.input_messages + f.output_messages:
                assert m["role"] in ("user", "assistant", "tool")
                assert all(isinstance(p, dict) and "type" in p for p in m["parts"])
    if path.name in FIRST_CALLS:
        assert (llm[0].usage.input_tokens, llm[0].usage.output_tokens) == FIRST_CALLS[path.name]
        if source not in NO_SPAN_CONTENT:
            assert llm[0].input_messages[-1]["parts"][0]["content"] == "What is the capital of France?"
            assert "Paris" in llm[0].output_messages[0]["parts"][0]["content"]
    if path.name == "traces-002.json" and source not in NO_SPAN_CONTENT:
        assert llm[0].system_instructions == [{"type": "text", "content": "Answer in one short sentence."}]
    if path.name == "traces-003.json" and source not in NO_SPAN_CONTENT:
        first_out = llm[0].output_messages[0]["parts"]
        assert any(p["type"] == "tool_call" and p["name"] == "get_weather" for p in first_out)
        assert llm[0].finish_reasons == ["tool_call"]
        roles = [m["role"] for m in llm[1].input_messages]
        assert roles[0] == "user"
        parts = [p for m in llm[1].input_messages for p in m["parts"]]
        assert any(p["type"] == "tool_call_response" for p in parts)
        tools = [f for _, _, f in results if f.span_type is SpanType.TOOL]
        for t in tools:
            assert t.tool_name == "get_weather" and t.counts_usage is False


@pytest.mark.parametrize("source", ["vercel_ai", "pydantic_ai", "langsmith", "openinference"])
def test_captured_ids(source: str) -> None:
    path = ROOT / source / "traces-001.json"
    if not path.exists():
        pytest.skip("capture missing")
    ids = {(f.session_id, f.user_id) for s in load_spans(path) for _, f in [extract_genai(s)] if f.span_type is not SpanType.OTHER}
    assert any(sess == "session-7f3a" for sess, _ in ids)
    assert any(user == "user-42" for _, user in ids)
