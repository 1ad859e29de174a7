"""Python values -> OTLP attribute messages: the inverse of
collector/normalize/attributes.py, for everything in llmobs that *sends*
OTLP (the demo traffic, replay results exported back as spans, the
benchmarks and the tests), so they all encode values the same way."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def any_value(v: Any) -> AnyValue:
    """bool, int, float, str, bytes, list/tuple (array) or dict (kvlist)."""
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(any_value(x) for x in v)
        return out
    if isinstance(v, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(x)) for k, x in v.items())
        return out
    raise TypeError(f"no OTLP AnyValue for {type(v).__name__}")


def key_values(attrs: dict[str, Any]) -> list[KeyValue]:
    """Attributes as KeyValues; None values are left out (OTLP has no null)."""
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items() if v is not None]
