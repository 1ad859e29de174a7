"""collector.pricing against the real bundled genai-prices database."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from genai_prices.types import ModelPrice

from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.pricing import CostBreakdown, Pricer, pricing_version

D = Decimal
Q = D("1e-12")
JULY_2025 = datetime(2025, 7, 1, 12, tzinfo=UTC)


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def span(model: str | None, provider: str | None = None, span_type: SpanType = SpanType.LLM,
         response_model: str | None = None, counts_usage: bool = True, **usage) -> GenAIFields:
    return GenAIFields(span_type=span_type, provider=provider, request_model=model,
                       response_model=response_model, usage=TokenUsage(**usage), counts_usage=counts_usage)


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def price(pricer: Pricer, g: GenAIFields, when: datetime = JULY_2025) -> CostBreakdown:
    return pricer.price(g, project_id="proj", start_ns=ns(when))


def assert_exact(cb: CostBreakdown) -> None:
    parts = (cb.input, cb.cache_read, cb.cache_write, cb.output, cb.reasoning)
    for p in (*parts, cb.total):
        assert type(p) is Decimal
        assert p.as_tuple().exponent == -12  # quantized for Decimal(18, 12)
    assert sum(parts, D(0)) == cb.total


def mtok(tokens: int, per_mtok: str) -> Decimal:
    return (D(tokens) * D(per_mtok) / 10**6).quantize(Q)


def db_price(provider: str, model: str, key: str, when: datetime = JULY_2025):
    from genai_prices.data_snapshot import get_snapshot

    _, info = get_snapshot().find_provider_model(model, None, provider, None)
    return getattr(info.get_prices(when), key)


# ------------------------------------------------------------------ published prices


def test_openai_gpt4o_cached_tokens_billed_once_at_cached_price(pricer):
    assert (db_price("openai", "gpt-4o", "input_mtok"), db_price("openai", "gpt-4o", "cache_read_mtok"),
            db_price("openai", "gpt-4o", "output_mtok")) == (D("2.5"), D("1.25"), D("10"))
    # OpenAI convention: prompt_tokens include the cached ones.
    cb = price(pricer, span("gpt-4o", "openai", input_tokens=10_000, cache_read_tokens=4_000, output_tokens=500))
    assert cb.status == "priced" and cb.source == "genai-prices"
    assert (cb.matched_model, cb.provider) == ("gpt-4o", "openai")
    assert cb.input == mtok(6_000, "2.5")
    assert cb.cache_read == mtok(4_000, "1.25")
    assert cb.cache_write == 0 and cb.reasoning == 0
    assert cb.output == mtok(500, "10")
    assert cb.total == D("0.025")  # double-billing the cache would give 0.035
    assert_exact(cb)


def test_response_model_preferred_over_request_model(pricer):
    cb = price(pricer, span("gpt-4o", "openai", response_model="gpt-4o-2024-08-06", input_tokens=1000))
    assert cb.status == "priced"
    cb2 = price(pricer, span("nonexistent-model", "openai", response_model="gpt-4o", input_tokens=1000))
    assert cb2.matched_model == "gpt-4o" and cb2.total == mtok(1000, "2.5")


def test_anthropic_cache_read_and_write_input_excludes_cache(pricer):
    model = "claude-sonnet-4-20250514"
    assert [db_price("anthropic", model, k) for k in
            ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")] == [D(3), D("0.3"), D("3.75"), D(15)]
    g = span(model, "anthropic", input_tokens=1_000, cache_read_tokens=20_000, cache_write_tokens=5_000,
             output_tokens=800, input_includes_cache=False)
    cb = price(pricer, g)
    # hand-computed from the published $/MTok: 3, 0.3, 3.75, 15
    assert cb.input == D("0.003")
    assert cb.cache_read == D("0.006")
    assert cb.cache_write == D("0.01875")
    assert cb.output == D("0.012")
    assert cb.total == D("0.03975")
    assert cb.matched_model == "claude-sonnet-4-0" and cb.provider == "anthropic"
    assert_exact(cb)


def test_gemini_reasoning_billed_as_output(pricer):
    assert (db_price("google", "gemini-2.5-flash", "input_mtok"),
            db_price("google", "gemini-2.5-flash", "output_mtok")) == (D("0.3"), D("2.5"))
    # Gemini's candidatesTokenCount excludes thoughtsTokenCount.
    g = span("gemini-2.5-flash", "gcp.gemini", input_tokens=2_000, output_tokens=300, reasoning_tokens=700,
             output_includes_reasoning=False)
    cb = price(pricer, g)
    assert cb.provider == "google"
    assert cb.input == D("0.0006")
    assert cb.output == mtok(300, "2.5")
    assert cb.reasoning == mtok(700, "2.5")
    assert cb.total == D("0.0031")
    assert_exact(cb)


def test_openai_reasoning_included_in_completion_tokens(pricer):
    cb = price(pricer, span("o3", "openai", input_tokens=1_000, output_tokens=1_000, reasoning_tokens=600))
    assert (cb.output, cb.reasoning) == (mtok(400, "8"), mtok(600, "8"))
    assert cb.total == D("0.01")


def test_long_context_tier_gemini_25_pro(pricer):
    # base 1.25 / 0.125 / 10, above 200k inclusive input: 2.5 / 0.25 / 15
    g = span("gemini-2.5-pro", "gcp.vertex_ai", input_tokens=250_000, cache_read_tokens=50_000, output_tokens=1_000)
    cb = price(pricer, g)
    assert cb.input == D("0.5")
    assert cb.cache_read == D("0.0125")
    assert cb.output == D("0.015")
    assert cb.total == D("0.5275")
    # exactly at the threshold: still the base price (cliff is "> start")
    cb = price(pricer, span("gemini-2.5-pro", "google", input_tokens=200_000, output_tokens=1_000))
    assert cb.total == mtok(200_000, "1.25") + mtok(1_000, "10")


def test_long_context_tier_counts_anthropic_cache_tokens(pricer):
    # claude-sonnet-4-5: 3/0.3/3.75/15 -> 6/0.6/7.5/22.5 above 200k input incl. cache.
    g = span("claude-sonnet-4-5", "anthropic", input_tokens=150_000, cache_read_tokens=60_000, output_tokens=1_000,
             input_includes_cache=False)
    cb = price(pricer, g)
    assert (cb.input, cb.cache_read, cb.output) == (D("0.9"), D("0.036"), D("0.0225"))
    g = span("claude-sonnet-4-5", "anthropic", input_tokens=150_000, cache_read_tokens=40_000, output_tokens=1_000,
             input_includes_cache=False)
    cb = price(pricer, g)
    assert (cb.input, cb.cache_read, cb.output) == (D("0.45"), D("0.012"), D("0.015"))


def test_price_changed_by_date_uses_span_start(pricer):
    g = span("o3", "openai", input_tokens=1_000, output_tokens=1_000)
    before = price(pricer, g, datetime(2025, 6, 9, 23, 0, tzinfo=UTC))
    after = price(pricer, g, datetime(2025, 6, 10, 1, 0, tzinfo=UTC))
    assert before.total == D("0.05")  # $10 + $40 per MTok
    assert after.total == D("0.01")  # $2 + $8 per MTok


def test_time_of_day_price_uses_span_start(pricer):
    # deepseek-chat: standard 00:30-16:30 UTC, discounted otherwise.
    g = span("deepseek-chat", "deepseek", input_tokens=1_000_000, output_tokens=0)
    peak = price(pricer, g, datetime(2025, 7, 1, 10, 0, tzinfo=UTC))
    off = price(pricer, g, datetime(2025, 7, 1, 20, 0, tzinfo=UTC))
    assert (peak.total, off.total) == (D("0.27"), D("0.135"))


def test_embedding_priced(pricer):
    g = span("text-embedding-3-small", "openai", span_type=SpanType.EMBEDDING, input_tokens=1_000_000)
    cb = price(pricer, g)
    assert cb.status == "priced" and cb.total == D("0.02") and cb.input == D("0.02")


# ------------------------------------------------------------------ statuses


def test_unknown_model_is_none_never_zero(pricer):
    cb = price(pricer, span("my-private-model-xyz", "openai", input_tokens=10, output_tokens=10))
    assert cb.status == "unknown_model"
    assert (cb.input, cb.cache_read, cb.cache_write, cb.output, cb.reasoning, cb.total) == (None,) * 6
    assert cb.version == pricing_version() and cb.source == ""
    assert price(pricer, span(None, "openai", input_tokens=10)).status == "unknown_model"


def test_local_provider_never_priced_at_an_api_price(pricer):
    cb = price(pricer, span("gpt-4o", "ollama", input_tokens=10, output_tokens=10))
    assert cb.status == "unknown_model" and cb.total is None


def test_non_llm_spans(pricer):
    for st in (SpanType.TOOL, SpanType.AGENT, SpanType.CHAIN, SpanType.RETRIEVER, SpanType.OTHER):
        cb = price(pricer, span("gpt-4o", "openai", span_type=st, input_tokens=10))
        assert cb.status == "not_llm" and cb.total is None and cb.input is None
    # a wrapper repeating its child's usage is not billed twice
    cb = price(pricer, span("gpt-4o", "openai", counts_usage=False, input_tokens=10))
    assert cb.status == "not_llm" and cb.total is None


def test_no_usage(pricer):
    assert price(pricer, span("gpt-4o", "openai")).status == "no_usage"
    cb = price(pricer, span("gpt-4o", "openai", total_tokens=100))  # only a total: cannot split
    assert cb.status == "no_usage" and cb.total is None


def test_explicit_zero_usage_is_priced_zero(pricer):
    cb = price(pricer, span("gpt-4o", "openai", input_tokens=0, output_tokens=0))
    assert cb.status == "priced" and cb.total == 0


# ------------------------------------------------------------------ providers


@pytest.mark.parametrize(
    ("provider", "model", "expected_provider"),
    [
        ("gcp.vertex_ai", "gemini-2.5-flash", "google"),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),
        ("azure.ai.openai", "gpt-4o", "azure"),
        ("x_ai", "grok-3", "x-ai"),
        ("some-proxy-nobody-knows", "gpt-4o", "openai"),  # unknown provider: model-only match
        (None, "claude-sonnet-4-20250514", "anthropic"),
        ("openai", "claude-sonnet-4-20250514", "anthropic"),  # proxy mislabel: model-only fallback
        ("litellm", "anthropic/claude-sonnet-4-20250514", "anthropic"),
        ("custom", "anthropic/claude-sonnet-4-20250514", "anthropic"),
        ("gcp.gemini", "models/gemini-2.5-flash", "google"),
    ],
)
def test_provider_resolution(pricer, provider, model, expected_provider):
    cb = price(pricer, span(model, provider, input_tokens=1000, output_tokens=100))
    assert cb.status == "priced", cb
    assert cb.provider == expected_provider
    assert cb.total > 0


# ------------------------------------------------------------------ agreement with the library


USAGES = [
    dict(input_tokens=1_234, output_tokens=567),
    dict(input_tokens=10_000, cache_read_tokens=3_000, cache_write_tokens=2_000, output_tokens=900,
         reasoning_tokens=300),
    dict(input_tokens=300_000, cache_read_tokens=120_000, cache_write_tokens=7_000, output_tokens=5_000,
         reasoning_tokens=4_000),
    dict(input_tokens=7, output_tokens=0),
]


def to_library_usage(u: TokenUsage) -> Usage:
    s = u.split()
    return Usage(input_tokens=s.input_total, cache_read_tokens=s.cache_read, cache_write_tokens=s.cache_write,
                 output_tokens=s.output_total, output_reasoning_tokens=s.reasoning)


def test_totals_equal_genai_prices_for_every_model_in_the_database():
    """Through the public API, every (provider, model) at two dates: our total == calc_price's."""
    from genai_prices.data_snapshot import get_snapshot

    pricer = Pricer()
    checked = 0
    for when in (datetime(2025, 3, 1, 12, tzinfo=UTC), datetime(2026, 11, 20, 20, tzinfo=UTC)):
        for prov in get_snapshot().providers:
            for info in prov.models:
                for raw in USAGES:
                    g = span(info.id, prov.id, **raw)
                    try:
                        lib = calc_price(to_library_usage(g.usage), info.id, provider_id=prov.id,
                                         genai_request_timestamp=when)
                    except (LookupError, ValueError):
                        continue
                    cb = pricer.price(g, project_id="p", start_ns=ns(when))
                    if cb.status == "unknown_model" and cb.matched_model == lib.model.id:
                        continue  # priced only in units tokens cannot express
                    assert cb.status == "priced", (prov.id, info.id)
                    assert cb.matched_model == lib.model.id, (prov.id, info.id)
                    assert cb.total == lib.total_price.quantize(Q), (prov.id, info.id, raw, cb, lib)
                    assert_exact(cb)
                    checked += 1
    assert checked > 10_000


def test_components_equal_genai_prices_per_price_row():
    """Every price row in the database: per-bucket costs match the library's leaf arithmetic."""
    from genai_prices.data_snapshot import get_snapshot

    from collector.pricing import _make_plan  # the per-row plan pricing.py builds

    pricer = Pricer()
    rows = 0
    for prov in get_snapshot().providers:
        for info in prov.models:
            mps = [info.prices] if isinstance(info.prices, ModelPrice) else [c.prices for c in info.prices]
            for mp in mps:
                plan = _make_plan(mp)
                if not plan.token_priced:
                    continue
                for raw in USAGES:
                    u = TokenUsage(**raw)
                    try:
                        lib = mp.calc_price(to_library_usage(u))
                    except ValueError:
                        continue
                    s = u.split()
                    buckets = (s.input_uncached, s.cache_read, s.cache_write, s.output_text, s.reasoning)
                    match = type("M", (), {"model": info, "provider": prov})()
                    cb = pricer._price_plan(plan, buckets, match)  # noqa: SLF001
                    fee = plan.request_fee
                    cb_input = cb.input + cb.cache_read + cb.cache_write - fee
                    assert cb_input == lib["input_price"].quantize(Q), (prov.id, info.id)
                    assert cb.output + cb.reasoning == lib["output_price"].quantize(Q), (prov.id, info.id)
                    assert cb.total == lib["total_price"].quantize(Q)
                    rows += 1
    assert rows > 5_000


# ------------------------------------------------------------------ offline + speed


def test_pricing_is_offline(monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("pricing touched the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    p = Pricer()
    assert price(p, span("gpt-4o", "openai", input_tokens=100)).status == "priced"
    assert price(p, span("totally-unknown", "nobody", input_tokens=100)).status == "unknown_model"


def test_version_string():
    v = pricing_version()
    assert v.startswith("genai-prices/0.2.3+data.") and len(v.split("+data.")[1]) == 12
    assert Pricer().version == v


def test_repeat_model_is_fast(pricer):
    g = span("claude-sonnet-4-5", "anthropic", input_tokens=1_000, cache_read_tokens=500, output_tokens=100,
             input_includes_cache=False)
    start = ns(JULY_2025)
    pricer.price(g, project_id="p", start_ns=start)
    n = 5_000
    t0 = time.perf_counter()
    for _ in range(n):
        pricer.price(g, project_id="p", start_ns=start)
    us = (time.perf_counter() - t0) / n * 1e6
    print(f"\nPricer.price repeat model: {us:.2f} us/call")
    assert us < 100  # ~7 us measured; generous bound for shared CI machines


def test_snapshot_can_be_swapped():
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ClauseEquals, ClauseStartsWith, ModelInfo, Provider

    acme = Provider(id="acme", name="Acme", api_pattern=r"https://acme\.example", model_match=ClauseStartsWith("acme-"),
                    models=[ModelInfo(id="acme-1", match=ClauseEquals("acme-1"),
                                      prices=ModelPrice(input_mtok=D(1), output_mtok=D(2)))])
    p = Pricer(snapshot=DataSnapshot(providers=[acme], from_auto_update=False))
    assert "+custom." in p.version
    cb = price(p, span("acme-1", None, input_tokens=1_000_000, output_tokens=500_000))
    assert (cb.status, cb.provider, cb.total) == ("priced", "acme", D(2))
    assert price(p, span("gpt-4o", "openai", input_tokens=10)).status == "unknown_model"
