"""Input validation for the metadata repository.

One place that turns user input (API bodies, CLI flags) into clean values or
an `InvalidInput` whose message can be shown as-is in an API response.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .models import SLUG_LEN
from .sqltypes import MONEY_PRECISION, MONEY_SCALE

_SLUG_RE = re.compile(rf"[a-z0-9](?:[a-z0-9-]{{0,{SLUG_LEN - 2}}}[a-z0-9])?")
_MONEY_LIMIT = Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE)
TOKEN_PRICE_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "reasoning_per_mtok",
)


class InvalidInput(ValueError):
    """The caller's input is wrong (maps to HTTP 400/422)."""


class Conflict(InvalidInput):
    """The thing to create already exists (maps to HTTP 409)."""


class NotFound(LookupError):
    """A referenced project/job/... does not exist (maps to HTTP 404)."""


def project_slug(value: object) -> str:
    if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
        raise InvalidInput(
            f"project id must be 1-{SLUG_LEN} lowercase letters, digits or '-' "
            f"(not starting or ending with '-'), got {value!r}"
        )
    return value


def text_field(field: str, value: object, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(f"{field} must be at most {max_len} characters")
    return value


def utc(field: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} must be a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def money(field: str, value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise InvalidInput(f"{field} must be a number, got {value!r}")
    try:
        # str() first: Decimal(0.1) would carry the float's binary expansion.
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise InvalidInput(f"{field} must be finite, got {value!r}")
    if number < 0:
        raise InvalidInput(f"{field} must not be negative, got {value!r}")
    if number >= _MONEY_LIMIT:
        raise InvalidInput(f"{field} must be below {_MONEY_LIMIT}, got {value!r}")
    return number


def model_pattern(value: object) -> str:
    pattern = text_field("model_pattern", value, 500)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"model_pattern is not a valid regular expression: {exc}") from None
    return pattern


def price_values(prices: Mapping[str, object]) -> dict[str, Decimal | None]:
    """Either token prices, or a GPU hour price with its throughput: never both."""
    values = {field: money(field, value) for field, value in prices.items()}
    has_token = any(values[f] is not None for f in TOKEN_PRICE_FIELDS)
    gpu, tps = values["gpu_hour_usd"], values["tokens_per_second"]
    if gpu is not None or tps is not None:
        if has_token:
            raise InvalidInput(
                "give either token prices or gpu_hour_usd with tokens_per_second, not both"
            )
        if gpu is None or tps is None:
            raise InvalidInput("gpu_hour_usd and tokens_per_second must be given together")
        if tps.scaleb(MONEY_SCALE) < 1:  # zero after rounding to the column's scale
            raise InvalidInput("tokens_per_second must be greater than 0")
    elif not has_token:
        raise InvalidInput(
            "give at least one token price (input_per_mtok, output_per_mtok, ...) "
            "or gpu_hour_usd with tokens_per_second"
        )
    return values


def progress(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"progress must be a number, got {value!r}")
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise InvalidInput(f"progress must be between 0 and 1, got {value!r}")
    return float(value)


def json_object(field: str, value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object (dict)")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{field} is not JSON-serialisable: {exc}") from None
    return value


def sampling_rules(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A project's ingest sampling rules, checked field by field."""
    unknown = set(raw) - {"keep_share", "keep_errors", "slow_ms", "keep_pii"}
    if unknown:
        raise InvalidInput(f"unknown sampling field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    share = raw.get("keep_share", 1.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share):
        raise InvalidInput("keep_share must be a number between 0 and 1")
    if not 0.0 <= float(share) <= 1.0:
        raise InvalidInput(f"keep_share must be between 0 and 1, got {share}")
    out["keep_share"] = float(share)
    keep_errors = raw.get("keep_errors", True)
    if not isinstance(keep_errors, bool):
        raise InvalidInput("keep_errors must be true or false")
    out["keep_errors"] = keep_errors
    keep_pii = raw.get("keep_pii", True)
    if not isinstance(keep_pii, bool):
        raise InvalidInput("keep_pii must be true or false")
    out["keep_pii"] = keep_pii
    slow = raw.get("slow_ms")
    if slow is not None:
        if isinstance(slow, bool) or not isinstance(slow, int | float) or not math.isfinite(slow) or slow <= 0:
            raise InvalidInput("slow_ms must be a positive number of milliseconds (or null)")
        slow = float(slow)
    out["slow_ms"] = slow
    return out
