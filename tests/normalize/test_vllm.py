"""vLLM server spans (`vllm`)."""

from __future__ import annotations

from collector.normalize.canonical import SpanType

from ._helpers import run, span, split


def test_llm_request_span():
    s = span(
        {
            "gen_ai.response.model": "meta-llama/Llama-3.1-8B-Instruct",
            "gen_ai.request.id": "cmpl-abc123",
            "gen_ai.request.temperature": 0.7,
            "gen_ai.request.top_p": 0.95,
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.n": 1,
            "gen_ai.usage.prompt_tokens": 42,
            "gen_ai.usage.completion_tokens": 17,
            "gen_ai.usage.num_sequences": 1,
            "gen_ai.latency.time_in_queue": 0.002,
            "gen_ai.latency.time_to_first_token": 0.051,
            "gen_ai.latency.e2e": 0.4,
            "gen_ai.latency.time_in_model_prefill": 0.04,
            "gen_ai.latency.time_in_model_decode": 0.35,
            "gen_ai.latency.time_in_model_inference": 0.39,
            "gen_ai.response.finish_reasons": '["stop"]',
        },
        name="llm_request",
        scope="vllm.llm_engine",
        kind=2,
    )
    f = run(s, "vllm")
    assert f.span_type is SpanType.LLM and f.operation == "text_completion"
    assert f.provider == "vllm"
    assert f.request_model == f.response_model == "meta-llama/Llama-3.1-8B-Instruct"
    assert f.response_id == "cmpl-abc123"
    assert (f.temperature, f.top_p, f.max_tokens) == (0.7, 0.95, 256)
    assert f.time_to_first_token_s == 0.051
    assert split(f) == (42, 0, 0, 17, 0) and f.usage.total_tokens == 59
    assert f.finish_reasons == ["stop"]
    assert f.counts_usage is True


def test_without_model_attribute():
    f = run(span({"gen_ai.request.id": "x", "gen_ai.usage.prompt_tokens": 1, "gen_ai.usage.completion_tokens": 1}, name="llm_request"), "vllm")
    assert f.provider == "vllm" and f.request_model is None and f.span_type is SpanType.LLM


def test_vllm_startup_spans_are_not_llm_calls():
    """Real start-up spans (tests/fixtures/otlp/vllm/startup-*.json) carry only code.* attributes."""
    from collector.normalize.canonical import SpanType
    from collector.normalize.dialects import extract_genai
    from collector.normalize.dialects.base import SpanView

    span = SpanView(
        name="Load weights",
        kind=1,
        attributes={"code.function": "load_weights", "code.namespace": "vllm.model_executor", "code.lineno": 10},
        scope_name="vllm.model_executor.model_loader.utils",
    )
    dialect, fields = extract_genai(span)
    assert fields.span_type is not SpanType.LLM and fields.usage.is_empty()


def test_real_vllm_request_spans():
    """Captured from a real vLLM 0.32 CPU server (tests/fixtures/otlp/vllm/README.md)."""
    from pathlib import Path

    from collector.normalize.canonical import SpanType
    from collector.normalize.dialects import extract_genai

    from .otlp_json import load_spans

    root = Path(__file__).resolve().parents[1] / "fixtures" / "otlp" / "vllm"
    (chat,) = load_spans(root / "traces-001.json")
    name, f = extract_genai(chat)
    assert name == "vllm" and f.span_type is SpanType.LLM and f.provider == "vllm"
    assert f.usage.input_tokens == 37 and f.usage.output_tokens == 8
    assert f.max_tokens == 32 and f.top_p == 1.0 and f.temperature is None  # vLLM drops temperature 0
    assert f.response_id and f.response_id.startswith("chatcmpl-")
    assert 0 < f.time_to_first_token_s < 5
    (completion,) = load_spans(root / "traces-003.json")
    _, g = extract_genai(completion)
    assert g.temperature == 0.7 and g.top_p == 0.9 and g.usage.output_tokens == 16
    for path in sorted(root.glob("startup-*.json")):
        for s in load_spans(path):
            assert extract_genai(s)[1].span_type is not SpanType.LLM, s.name
