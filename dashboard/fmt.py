"""One way to write each unit on every page: money in US dollars to four
decimals (LLM calls cost fractions of a cent; four decimals keep every cent
exact), counts with thousands separators, durations in ms or s, rates in %."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def usd(value: Any) -> str:
    d = dec(value)
    if d is None:
        return "—"
    return f"${d.quantize(Decimal('0.0001')):,.4f}"


def count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def ms(value: Any) -> str:
    if value is None:
        return "—"
    v = float(value)
    return f"{v / 1000:,.2f} s" if v >= 1000 else f"{v:,.0f} ms"


def pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f} %"


def change(cur: Any, prev: Any) -> str | None:
    """Relative change for st.metric's delta; None when there is no baseline."""
    c, p = dec(cur), dec(prev)
    if c is None or p is None or p == 0:
        return None
    return f"{(c - p) / p * 100:+.1f} %"


def point_change(cur: Any, prev: Any) -> str | None:
    """Difference of two rates in percentage points."""
    if cur is None or prev is None:
        return None
    return f"{(float(cur) - float(prev)) * 100:+.1f} pp"


def when(ns: Any) -> str:
    if ns is None:
        return "—"
    return datetime.fromtimestamp(int(ns) / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
