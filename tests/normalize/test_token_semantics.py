"""Provider token conventions: every token billed exactly once."""

from __future__ import annotations

from collector.normalize.canonical import SpanType
from collector.normalize.providers import canonical_provider, provider_from_model

from ._helpers import run, span, split


def test_anthropic_raw_input_excludes_cache_openlit():
    # OpenLIT passes Anthropic's input_tokens through (cache excluded).
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-latest",
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.cache_read_input_tokens": 3000,
            "gen_ai.usage.cache_creation_input_tokens": 500,
            "gen_ai.usage.output_tokens": 40,
        },
        resource={"telemetry.sdk.name": "openlit"},
    )
    f = run(s, "openlit")
    assert f.usage.input_includes_cache is False
    assert split(f) == (20, 3000, 500, 40, 0)
    assert f.usage.total_tokens == 3560


def test_anthropic_raw_input_larger_than_cache_still_excluded_for_native_sender():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 10,
        },
        resource={"telemetry.sdk.name": "openlit"},
    )
    f = run(s, "openlit")
    assert split(f) == (5000, 1000, 0, 10, 0)


def test_anthropic_semconv_inclusive_input():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 3520,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 500,
            "gen_ai.usage.output_tokens": 40,
        }
    )
    f = run(s, "otel_genai")
    assert f.usage.input_includes_cache is True
    assert split(f) == (20, 3000, 500, 40, 0)


def test_input_smaller_than_cache_cannot_include_it():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.output_tokens": 40,
        }
    )
    f = run(s, "otel_genai")
    assert f.usage.input_includes_cache is False
    assert split(f) == (20, 3000, 0, 40, 0)


def test_total_proves_cache_outside_input():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.input_tokens": 4000,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.total_tokens": 5040,
        }
    )
    f = run(s, "otel_genai")
    assert split(f) == (4000, 1000, 0, 40, 0)


def test_openai_cached_and_reasoning_inside_totals():
    s = span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "o4-mini",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.reasoning.output_tokens": 200,
        }
    )
    f = run(s, "otel_genai")
    assert (f.usage.input_includes_cache, f.usage.output_includes_reasoning) == (True, True)
    assert split(f) == (400, 600, 0, 100, 200)
    assert f.usage.total_tokens == 1300


def test_gemini_thinking_tokens_billed_as_output():
    # candidates_token_count (40) excludes the 60 thought tokens.
    s = span(
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.system": "gcp.gemini",
            "gen_ai.request.model": "gemini-2.5-flash",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.reasoning_tokens": 60,
        }
    )
    f = run(s, "otel_genai")
    assert f.provider == "google" and f.span_type is SpanType.LLM and f.operation == "generate_content"
    assert f.usage.output_includes_reasoning is False
    s2 = f.usage.split()
    assert (s2.output_text, s2.reasoning, s2.output_total) == (40, 60, 100)
    assert f.usage.total_tokens == 200


def test_gemini_total_shows_output_already_summed():
    s = span(
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.provider.name": "gcp.gen_ai",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.reasoning.output_tokens": 60,
            "gen_ai.usage.total_tokens": 200,
        }
    )
    f = run(s, "otel_genai")
    assert f.usage.output_includes_reasoning is True
    assert split(f) == (100, 0, 0, 40, 60)


def test_canonical_provider_names():
    cases = {
        "openai": "openai",
        "azure.ai.openai": "azure",
        "az.ai.openai": "azure",
        "anthropic": "anthropic",
        "Anthropic": "anthropic",
        "gcp.gemini": "google",
        "gcp.vertex_ai": "google",
        "gcp.gen_ai": "google",
        "google": "google",
        "google_genai": "google",
        "vertex_ai": "google",
        "aws.bedrock": "aws",
        "bedrock": "aws",
        "mistral_ai": "mistral",
        "mistralai": "mistral",
        "ollama": "ollama",
        "vllm": "vllm",
        "cohere": "cohere",
        "groq": "groq",
        "deepseek": "deepseek",
        "x_ai": "x-ai",
        "perplexity": "perplexity",
        "openrouter": "openrouter",
        "openai.chat": "openai",
        "google.vertex.chat": "google",
        "amazon-bedrock": "aws",
        "_OTHER": None,
        "langchain": None,
    }
    for raw, want in cases.items():
        assert canonical_provider(raw) == want, raw
    assert canonical_provider(None) is None


def test_canonical_ids_exist_in_genai_prices():
    from genai_prices.data_snapshot import get_snapshot

    ids = {p.id for p in get_snapshot().providers}
    for raw in ("openai", "azure.ai.openai", "anthropic", "gcp.gemini", "aws.bedrock", "mistral_ai", "groq", "deepseek", "x_ai", "cohere", "perplexity", "openrouter"):
        assert canonical_provider(raw) in ids, raw


def test_provider_from_model():
    assert provider_from_model("claude-3-7-sonnet-20250219") == "anthropic"
    assert provider_from_model("gpt-4o-mini") == "openai"
    assert provider_from_model("o3") == "openai"
    assert provider_from_model("o4-mini-2025-04-16") == "openai"
    assert provider_from_model("gemini-2.5-pro") == "google"
    assert provider_from_model("models/gemini-2.0-flash") == "google"
    assert provider_from_model("mistral-large-latest") == "mistral"
    assert provider_from_model("mixtral-8x7b") == "mistral"
    assert provider_from_model("deepseek-chat") == "deepseek"
    assert provider_from_model("grok-4") == "x-ai"
    assert provider_from_model("anthropic.claude-3-5-sonnet-20240620-v1:0") == "aws"
    assert provider_from_model("us.anthropic.claude-3-7-sonnet-20250219-v1:0") == "aws"
    assert provider_from_model("llama3.1:8b") is None
