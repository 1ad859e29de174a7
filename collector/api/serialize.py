"""ClickHouse rows -> JSON-safe dicts.  Money stays exact: Decimal -> string."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v else None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    return v


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in row.items()}
