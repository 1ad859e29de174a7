"""OTLP AnyValue <-> Python values, and the string form stored in raw maps."""

from __future__ import annotations

import base64
from typing import Any

import orjson


def any_value(v: Any) -> Any:
    """Decode an opentelemetry.proto.common.v1.AnyValue into plain Python."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return bytes(v.bytes_value)
    return None


def decode_attributes(kvs: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, raw text map) of a repeated KeyValue in one pass: most values
    are strings, which are the same object in both."""
    values, texts, _ = decode_attributes_plain(kvs)
    return values, texts


def decode_attributes_plain(kvs: Any) -> tuple[dict[str, Any], dict[str, str], bool]:
    """`decode_attributes` plus whether the engine can render the raw text map
    itself from the wire values (collector/frames.py): true when every value
    is a string, an int, a bool or empty, and no key repeats.  Floats, arrays,
    kvlists and bytes are rendered here only (Python's float repr and JSON
    differ from the engine's)."""
    values: dict[str, Any] = {}
    texts: dict[str, str] = {}
    plain = True
    n = 0
    for kv in kvs:
        n += 1
        v = kv.value
        which = v.WhichOneof("value")
        key = kv.key
        if which == "string_value":
            s = v.string_value
            values[key] = s
            texts[key] = s
        else:
            if which not in ("int_value", "bool_value", None):
                plain = False
            py = any_value(v)
            values[key] = py
            texts[key] = to_text(py)
    return values, texts, plain and n == len(values)


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes):
        return base64.b64encode(o).decode()
    raise TypeError(type(o).__name__)


def to_text(value: Any) -> str:
    """The string stored in the raw attribute map: strings as they are, the
    rest as JSON so arrays and maps survive a round trip."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if value is None:
        return ""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return orjson.dumps(value, default=_json_default).decode()
