from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from storage.metadata.repo import InvalidInput, MetadataRepo, NotFound
from storage.metadata.types import PriceOverride


@pytest.fixture
def acme(repo: MetadataRepo) -> str:
    return repo.create_project("acme").id


def test_add_list_delete(repo: MetadataRepo, acme: str) -> None:
    o = repo.add_price_override(
        acme,
        r"gpt-4o(-\d{4}-\d{2}-\d{2})?",
        provider="openai",
        input_per_mtok="2.5",
        output_per_mtok=Decimal("10"),
        cache_read_per_mtok=1.25,
        reasoning_per_mtok=0,
    )
    assert isinstance(o, PriceOverride)
    assert o.project_id == acme and o.provider == "openai" and o.valid_from is None
    assert o.input_per_mtok == Decimal("2.5") and o.output_per_mtok == Decimal(10)
    assert o.cache_read_per_mtok == Decimal("1.25") and o.reasoning_per_mtok == 0
    assert o.cache_write_per_mtok is None and o.gpu_hour_usd is None
    assert o.created_at is not None
    assert repo.list_price_overrides(acme) == [o]
    assert repo.delete_price_override("other", o.id) is False
    assert repo.delete_price_override(acme, o.id) is True
    assert repo.delete_price_override(acme, o.id) is False
    assert repo.list_price_overrides(acme) == []


def test_decimal_precision_survives_round_trip(repo: MetadataRepo, acme: str) -> None:
    tiny, big = Decimal("0.0000000001"), Decimal("9999999999.9999999999")
    repo.add_price_override(acme, "m", input_per_mtok=tiny, output_per_mtok=big)
    (o,) = repo.list_price_overrides(acme)
    assert o.input_per_mtok == tiny and o.output_per_mtok == big
    assert isinstance(o.input_per_mtok, Decimal)
    o2 = repo.add_price_override(acme, "m2", input_per_mtok=0.1)  # float goes via str
    assert o2.input_per_mtok == Decimal("0.1")


def test_gpu_hour_pricing(repo: MetadataRepo, acme: str) -> None:
    o = repo.add_price_override(acme, "my-llama", gpu_hour_usd="2.49", tokens_per_second=850)
    assert o.gpu_hour_usd == Decimal("2.49") and o.tokens_per_second == Decimal(850)
    assert o.input_per_mtok is None


def test_ordering_newest_valid_from_first(repo: MetadataRepo, acme: str) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    always_old = repo.add_price_override(acme, "a", input_per_mtok=1)
    jan = repo.add_price_override(acme, "a", input_per_mtok=2, valid_from=t0)
    # A non-UTC offset is normalised to UTC.
    june = repo.add_price_override(
        acme,
        "a",
        input_per_mtok=3,
        valid_from=datetime(2025, 6, 1, 2, tzinfo=timezone(timedelta(hours=2))),
    )
    always_new = repo.add_price_override(acme, "b", input_per_mtok=4)
    assert june.valid_from == datetime(2025, 6, 1, tzinfo=UTC)
    assert june.valid_from.tzinfo is not None and june.valid_from.utcoffset() == timedelta(0)
    got = [o.id for o in repo.list_price_overrides(acme)]
    assert got == [june.id, jan.id, always_new.id, always_old.id]


def test_overrides_are_per_project(repo: MetadataRepo, acme: str) -> None:
    repo.create_project("beta")
    repo.add_price_override(acme, "m", input_per_mtok=1)
    assert repo.list_price_overrides("beta") == []
    with pytest.raises(NotFound):
        repo.add_price_override("missing", "m", input_per_mtok=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_pattern": "gpt-(4"}, "not a valid regular expression"),
        ({"model_pattern": ""}, "model_pattern must be a non-empty"),
        ({"model_pattern": "m" * 501}, "at most 500"),
        ({"input_per_mtok": -1}, "must not be negative"),
        ({"input_per_mtok": "abc"}, "must be a number"),
        ({"input_per_mtok": float("nan")}, "must be finite"),
        ({"input_per_mtok": "Infinity"}, "must be finite"),
        ({"input_per_mtok": True}, "must be a number"),
        ({"input_per_mtok": Decimal("1e10")}, "must be below"),
        ({"input_per_mtok": None}, "at least one token price"),
        ({"gpu_hour_usd": 2}, "must be given together"),
        ({"tokens_per_second": 100}, "must be given together"),
        ({"gpu_hour_usd": 2, "tokens_per_second": 0}, "greater than 0"),
        ({"gpu_hour_usd": -2, "tokens_per_second": 10}, "must not be negative"),
        ({"gpu_hour_usd": 2, "tokens_per_second": 10, "output_per_mtok": 1}, "not both"),
        ({"provider": ""}, "provider"),
        ({"valid_from": "2025-01-01"}, "valid_from must be a datetime"),
    ],
)
def test_validation(repo: MetadataRepo, acme: str, kwargs: dict, message: str) -> None:
    args = {"model_pattern": "m", "input_per_mtok": 1, **kwargs}
    if "gpu_hour_usd" in kwargs or "tokens_per_second" in kwargs:
        args.pop("input_per_mtok")
    with pytest.raises(InvalidInput, match=message):
        repo.add_price_override(acme, **args)
    assert repo.list_price_overrides(acme) == []
