"""Small, total (never-raising) value coercions shared by the dialect modules.

Attribute values arrive as decoded AnyValues, but instrumentations disagree on
types: token counts as strings, finish reasons as a JSON string, messages as a
JSON string or a structured list.  Every helper here returns ``None`` (or an
empty container) instead of raising, so a dialect can chain them freely.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from collector.normalize.messages import (  # noqa: F401  (re-exported)
    MAX_INDEX,
    MAX_JSON_CHARS,
    as_str,
    dumps,
    finish_reason,
    loads,
)

def as_int(v: Any) -> int | None:
    """A non-negative int from int, integral float or numeric string."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if v >= 0 else None
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")) or v < 0:
            return None
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        if not s or len(s) > 30:
            return None
        try:
            f = float(s)
        except ValueError:
            return None
        return as_int(f)
    return None


def as_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
        return f if f == f and f not in (float("inf"), float("-inf")) else None
    if isinstance(v, str) and 0 < len(v) <= 40:
        try:
            return as_float(float(v))
        except ValueError:
            return None
    return None


def as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "1", "yes"):
            return True
        if s in ("false", "0", "no"):
            return False
    if isinstance(v, int):
        return bool(v)
    return None


def as_decimal(v: Any) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, str)):
        try:
            d = Decimal(str(v).strip())
        except (InvalidOperation, ValueError):
            return None
        if not d.is_finite() or d < 0:
            return None
        return d
    return None


def first(attrs: Mapping[str, Any], keys: Iterable[str]) -> Any:
    """The first value present (not None) among `keys`."""
    for k in keys:
        v = attrs.get(k)
        if v is not None:
            return v
    return None


def first_int(attrs: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    for k in keys:
        v = attrs.get(k)
        if v is not None:
            i = as_int(v)
            if i is not None:
                return i
    return None


def first_float(attrs: Mapping[str, Any], keys: Iterable[str]) -> float | None:
    for k in keys:
        v = attrs.get(k)
        if v is not None:
            f = as_float(v)
            if f is not None:
                return f
    return None


def first_str(attrs: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    for k in keys:
        v = attrs.get(k)
        if v is not None:
            s = as_str(v)
            if s is not None:
                return s
    return None


def str_list(v: Any) -> list[str]:
    """A list of strings from a list, a JSON-array string or a scalar string."""
    if v is None:
        return []
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            parsed = loads(s)
            if isinstance(parsed, list):
                v = parsed
            else:
                return [s] if s else []
        else:
            return [s] if s else []
    if isinstance(v, (list, tuple)):
        out = []
        for x in v[:MAX_INDEX]:
            s = as_str(x)
            if s:
                out.append(s)
        return out
    s = as_str(v)
    return [s] if s else []


def indexed(attrs: Mapping[str, Any], prefix: str, probe: tuple[str, ...]) -> int:
    """How many consecutive `prefix.N.` groups exist (0..), probing a few
    sub-keys per index with plain dict lookups (no scan over all keys)."""
    n = 0
    while n < MAX_INDEX:
        base = f"{prefix}.{n}."
        if not any(base + p in attrs for p in probe):
            break
        n += 1
    return n


def finish_reasons(v: Any) -> list[str]:
    out = []
    for s in str_list(v):
        r = finish_reason(s)
        if r:
            out.append(r)
    return out
