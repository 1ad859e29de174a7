"""Pin the genai-prices conventions collector/pricing.py relies on (real database, no mocks).

If an upgrade of genai-prices changes any of these, pricing.py's Usage
conversion / component arithmetic must be revisited.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

TS = datetime(2025, 7, 1, 12, tzinfo=UTC)


def total(usage: Usage, model: str, provider: str) -> Decimal:
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=TS).total_price


def test_input_tokens_include_cache_reads():
    # gpt-4o: $2.5 input, $1.25 cached input per MTok.
    assert total(Usage(input_tokens=1000, cache_read_tokens=1000), "gpt-4o", "openai") == Decimal("0.00125")
    assert total(Usage(input_tokens=1000, cache_read_tokens=400), "gpt-4o", "openai") == Decimal("0.002")
    with pytest.raises(ValueError, match="cannot exceed"):
        total(Usage(input_tokens=100, cache_read_tokens=1000), "gpt-4o", "openai")


def test_unpriced_cache_bucket_stays_in_input_at_input_price():
    # gpt-4o has no cache_write price: those tokens are billed as plain input.
    assert total(Usage(input_tokens=1000, cache_write_tokens=1000), "gpt-4o", "openai") == Decimal("0.0025")


def test_input_tokens_include_cache_writes():
    # claude-sonnet-4-0: $3 input, $3.75 cache write.
    got = total(Usage(input_tokens=1000, cache_write_tokens=1000), "claude-sonnet-4-20250514", "anthropic")
    assert got == Decimal("0.00375")


def test_output_tokens_include_reasoning_billed_at_output_price():
    assert total(Usage(output_tokens=1000, output_reasoning_tokens=1000), "gpt-4o", "openai") == Decimal("0.01")
    assert total(Usage(output_tokens=1000, output_reasoning_tokens=400), "gpt-4o", "openai") == Decimal("0.01")


def test_output_reasoning_priced_separately_when_the_model_has_a_price():
    # perplexity sonar-deep-research: $8 output, $3 output reasoning.
    got = total(Usage(output_tokens=1000, output_reasoning_tokens=400), "sonar-deep-research", "perplexity")
    assert got == Decimal("600") * 8 / 1_000_000 + Decimal("400") * 3 / 1_000_000


def test_tiers_are_cliffs_keyed_on_inclusive_input():
    # gemini-2.5-pro: input 1.25 -> 2.5, cache read 0.125 -> 0.25 above 200k input tokens.
    below = total(Usage(input_tokens=200_000, cache_read_tokens=50_000), "gemini-2.5-pro", "google")
    above = total(Usage(input_tokens=200_001, cache_read_tokens=50_000), "gemini-2.5-pro", "google")
    assert below == Decimal("150000") * Decimal("1.25") / 10**6 + Decimal("50000") * Decimal("0.125") / 10**6
    assert above == Decimal("150001") * Decimal("2.5") / 10**6 + Decimal("50000") * Decimal("0.25") / 10**6


def test_price_at_request_timestamp():
    # o3 was cut from $10/$40 to $2/$8 on 2025-06-10.
    u = Usage(input_tokens=1_000_000)
    old = calc_price(u, "o3", provider_id="openai", genai_request_timestamp=datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    new = calc_price(u, "o3", provider_id="openai", genai_request_timestamp=datetime(2025, 6, 10, 0, 0, tzinfo=UTC))
    assert (old.total_price, new.total_price) == (Decimal(10), Decimal(2))


def test_calc_price_returns_only_direction_totals():
    r = calc_price(Usage(input_tokens=10, cache_read_tokens=5, output_tokens=3), "gpt-4o", provider_id="openai",
                   genai_request_timestamp=TS)
    assert r.input_price + r.output_price == r.total_price
    assert not hasattr(r, "cache_read_price")


def test_importing_never_starts_the_updater():
    import collector.pricing  # noqa: F401

    assert not any(t.name == "genai_prices:update" for t in threading.enumerate())
