"""User / per-project price overrides and self-hosted GPU-hour pricing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.pricing import CostBreakdown, Pricer
from storage.metadata.types import PriceOverride

D = Decimal


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000


def span(model: str, provider: str | None = "openai", **usage) -> GenAIFields:
    return GenAIFields(span_type=SpanType.LLM, provider=provider, request_model=model, usage=TokenUsage(**usage))


def pricer_for(*rows: PriceOverride) -> Pricer:
    by_project: dict[str, list[PriceOverride]] = {}
    for r in rows:
        by_project.setdefault(r.project_id, []).append(r)
    return Pricer(lambda project_id: by_project.get(project_id, ()))


def ov(id: int, pattern: str, project: str = "proj", **kw) -> PriceOverride:
    return PriceOverride(id=id, project_id=project, model_pattern=pattern, **kw)


WHEN = datetime(2025, 7, 1, tzinfo=UTC)


def price(p: Pricer, g: GenAIFields, when: datetime = WHEN, project: str = "proj") -> CostBreakdown:
    return p.price(g, project_id=project, start_ns=ns(when))


def check_sum(cb: CostBreakdown) -> None:
    parts = (cb.input, cb.cache_read, cb.cache_write, cb.output, cb.reasoning)
    assert all(type(x) is Decimal and x.as_tuple().exponent == -12 for x in (*parts, cb.total))
    assert sum(parts, D(0)) == cb.total


def test_override_beats_builtin_and_is_per_project():
    p = pricer_for(ov(7, r"gpt-4o", input_per_mtok=D(1), output_per_mtok=D(2)))
    g = span("gpt-4o", input_tokens=1_000_000, output_tokens=1_000_000)
    cb = price(p, g)
    assert (cb.source, cb.version, cb.status) == ("override", "override:7", "priced")
    assert (cb.input, cb.output, cb.total) == (D(1), D(2), D(3))
    assert cb.matched_model == "gpt-4o"
    check_sum(cb)
    other = price(p, g, project="other-project")
    assert other.source == "genai-prices" and other.total == D("12.5")


def test_pattern_is_a_full_match():
    p = pricer_for(ov(1, r"gpt-4o", input_per_mtok=D(1)))
    assert price(p, span("gpt-4o-mini", input_tokens=1000)).source == "genai-prices"
    p = pricer_for(ov(1, r"gpt-4o.*", input_per_mtok=D(1)))
    assert price(p, span("gpt-4o-mini", input_tokens=1000)).source == "override"


def test_override_prices_a_model_unknown_to_the_database():
    p = pricer_for(ov(3, r"ft:acme-.*", input_per_mtok=D("0.5"), output_per_mtok=D("1.5")))
    cb = price(p, span("ft:acme-support-v2", provider="openai", input_tokens=2_000, output_tokens=1_000))
    assert cb.status == "priced" and cb.total == D("0.0025")


def test_newest_valid_from_wins_and_future_rows_are_ignored():
    p = pricer_for(
        ov(1, r"gpt-4o", input_per_mtok=D(100)),  # no valid_from: oldest
        ov(2, r"gpt-4o", valid_from=datetime(2025, 1, 1, tzinfo=UTC), input_per_mtok=D(1)),
        ov(3, r"gpt-4o", valid_from=datetime(2025, 6, 1, tzinfo=UTC), input_per_mtok=D(2)),
        ov(4, r"gpt-4o", valid_from=datetime(2026, 1, 1, tzinfo=UTC), input_per_mtok=D(3)),
    )
    g = span("gpt-4o", input_tokens=1_000_000)
    assert price(p, g, datetime(2024, 6, 1, tzinfo=UTC)).version == "override:1"
    assert price(p, g, datetime(2025, 3, 1, tzinfo=UTC)).total == D(1)
    assert price(p, g, datetime(2025, 7, 1, tzinfo=UTC)).total == D(2)
    assert price(p, g, datetime(2026, 2, 1, tzinfo=UTC)).total == D(3)
    # valid_from is inclusive
    assert price(p, g, datetime(2025, 6, 1, tzinfo=UTC)).version == "override:3"


def test_no_valid_override_yet_falls_back_to_builtin():
    p = pricer_for(ov(2, r"gpt-4o", valid_from=datetime(2025, 1, 1, tzinfo=UTC), input_per_mtok=D(1)))
    cb = price(p, span("gpt-4o", input_tokens=1_000_000), datetime(2024, 12, 31, tzinfo=UTC))
    assert cb.source == "genai-prices" and cb.total == D("2.5")


def test_naive_valid_from_is_utc():
    p = pricer_for(ov(2, r"gpt-4o", valid_from=datetime(2025, 1, 1, 12, 0), input_per_mtok=D(1)))
    g = span("gpt-4o", input_tokens=1_000_000)
    assert price(p, g, datetime(2025, 1, 1, 11, 59, tzinfo=UTC)).source == "genai-prices"
    assert price(p, g, datetime(2025, 1, 1, 12, 0, tzinfo=UTC)).source == "override"


def test_same_valid_from_higher_id_wins():
    vf = datetime(2025, 1, 1, tzinfo=UTC)
    p = pricer_for(ov(5, r"gpt-.*", valid_from=vf, input_per_mtok=D(5)),
                   ov(9, r"gpt-4o", valid_from=vf, input_per_mtok=D(9)))
    assert price(p, span("gpt-4o", input_tokens=1_000_000)).version == "override:9"


def test_provider_constraint():
    p = pricer_for(ov(1, r"gpt-4o", provider="azure.ai.openai", input_per_mtok=D(1)))
    assert price(p, span("gpt-4o", provider="openai", input_tokens=1_000_000)).source == "genai-prices"
    assert price(p, span("gpt-4o", provider=None, input_tokens=1_000_000)).source == "genai-prices"
    cb = price(p, span("gpt-4o", provider="Azure.AI.OpenAI", input_tokens=1_000_000))
    assert cb.source == "override" and cb.total == D(1)


def test_cache_and_reasoning_fall_back_to_input_and_output_prices():
    g = span("m", input_tokens=10_000, cache_read_tokens=4_000, cache_write_tokens=1_000,
             output_tokens=3_000, reasoning_tokens=1_000)
    cb = price(pricer_for(ov(1, "m", input_per_mtok=D(2), output_per_mtok=D(10))), g)
    assert (cb.input, cb.cache_read, cb.cache_write) == (D("0.01"), D("0.008"), D("0.002"))
    assert (cb.output, cb.reasoning) == (D("0.02"), D("0.01"))
    check_sum(cb)
    cb = price(pricer_for(ov(1, "m", input_per_mtok=D(2), output_per_mtok=D(10), cache_read_per_mtok=D("0.2"),
                             cache_write_per_mtok=D("2.5"), reasoning_per_mtok=D(20))), g)
    assert (cb.input, cb.cache_read, cb.cache_write) == (D("0.01"), D("0.0008"), D("0.0025"))
    assert (cb.output, cb.reasoning) == (D("0.02"), D("0.02"))
    assert cb.total == D("0.0533")
    check_sum(cb)


def test_self_hosted_gpu_hour_math():
    # $3.60/GPU-hour at 1000 tok/s -> $0.000001 per token, input and output alike.
    p = pricer_for(ov(11, r"llama-3\.1-70b.*", provider="vllm", gpu_hour_usd=D("3.60"), tokens_per_second=D(1000)))
    g = span("llama-3.1-70b-instruct", provider="vllm", input_tokens=1_500, cache_read_tokens=500,
             output_tokens=400, reasoning_tokens=100)
    cb = price(p, g)
    assert (cb.source, cb.version) == ("self-hosted", "override:11")
    assert (cb.input, cb.cache_read, cb.output, cb.reasoning) == (D("0.001"), D("0.0005"), D("0.0003"), D("0.0001"))
    assert cb.total == D("0.0019")
    check_sum(cb)
    # a local provider with no override is unknown, not free
    assert price(pricer_for(), g).status == "unknown_model"


def test_self_hosted_non_terminating_rate_is_quantized_and_sums_exactly():
    p = pricer_for(ov(12, r"qwen.*", gpu_hour_usd=D("2.5"), tokens_per_second=D(7)))
    cb = price(p, span("qwen2.5-72b", provider="ollama", input_tokens=1_000, output_tokens=333))
    # 1000 * 2.5 / (3600 * 7) = 0.09920634920634920...
    assert cb.input == D("0.099206349206")
    assert cb.output == (D(333) * D("2.5") / D(25200)).quantize(D("1e-12"))
    check_sum(cb)


def test_invalid_or_empty_overrides_are_ignored():
    p = pricer_for(ov(1, r"gpt-4o(", input_per_mtok=D(1)), ov(2, r"gpt-4o"))
    cb = price(p, span("gpt-4o", input_tokens=1_000_000))
    assert cb.source == "genai-prices" and cb.total == D("2.5")


def test_override_rows_are_re_read_each_call():
    rows: list[PriceOverride] = []
    p = Pricer(lambda _pid: rows)
    g = span("gpt-4o", input_tokens=1_000_000)
    assert price(p, g).source == "genai-prices"
    rows.append(ov(1, "gpt-4o", input_per_mtok=D(1)))
    assert price(p, g).source == "override"
    rows[0] = ov(1, "gpt-4o", input_per_mtok=D(4))
    assert price(p, g).total == D(4)


def test_non_llm_and_no_usage_skip_overrides():
    called = []
    p = Pricer(lambda pid: called.append(pid) or [ov(1, ".*", input_per_mtok=D(1))])
    g = GenAIFields(span_type=SpanType.TOOL, request_model="x", usage=TokenUsage(input_tokens=5))
    assert price(p, g).status == "not_llm"
    assert price(p, span("x")).status == "no_usage"
    assert called == []
