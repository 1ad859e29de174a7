"""Column types that behave the same on SQLite and PostgreSQL.

They live apart from `models.py` so migrations can import them without
importing (and freezing) the current models.  Change them only in ways that
keep the stored representation: old migrations use them too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# JSONB on Postgres (indexable, compact), plain JSON text on SQLite.
JSON_ = JSON().with_variant(JSONB(), "postgresql")

MONEY_SCALE = 10
MONEY_PRECISION = 20
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in, UTC-aware datetimes out, on every backend.

    Postgres stores `timestamptz`; SQLite has no timezone support, so the value
    is stored as naive UTC text and tagged UTC again on the way out.  Naive
    inputs are taken to be UTC already (what `datetime.utcnow()` callers mean).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact decimal: NUMERIC(20,10) on Postgres, decimal text on SQLite.

    SQLite's NUMERIC affinity turns values into floats (rounding errors on
    prices such as 0.15 USD/Mtok), so there the value is kept as a string.
    Values are quantized to 10 decimal places on both backends so a round trip
    gives the same Decimal everywhere.  Don't compare or sort these columns in
    SQL on SQLite: the text comparison is lexical.
    """

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(MONEY_PRECISION + 2))
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(_QUANTUM)
        return format(quantized, "f") if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(_QUANTUM)
