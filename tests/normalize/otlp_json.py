"""Decode an OTLP/JSON trace export file into SpanView objects (test helper)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from collector.normalize.dialects.base import SpanEvent, SpanView


def any_value(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [any_value(x) for x in (v["arrayValue"].get("values") or [])]
    if "kvlistValue" in v:
        return key_values(v["kvlistValue"].get("values") or [])
    if "bytesValue" in v:
        return base64.b64decode(v["bytesValue"])
    return None


def key_values(kvs: list[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: any_value(kv.get("value") or {}) for kv in kvs}


def load_spans(path: Path) -> list[SpanView]:
    doc = json.loads(path.read_text())
    out: list[SpanView] = []
    for rs in doc.get("resourceSpans") or []:
        resource = key_values((rs.get("resource") or {}).get("attributes") or [])
        for ss in rs.get("scopeSpans") or []:
            scope = ss.get("scope") or {}
            for sp in ss.get("spans") or []:
                out.append(
                    SpanView(
                        name=sp.get("name", ""),
                        kind=int(sp.get("kind", 0) or 0),
                        attributes=key_values(sp.get("attributes") or []),
                        resource=resource,
                        scope_name=scope.get("name", ""),
                        scope_version=scope.get("version", ""),
                        events=[
                            SpanEvent(
                                name=e.get("name", ""),
                                time_ns=int(e.get("timeUnixNano", 0) or 0),
                                attributes=key_values(e.get("attributes") or []),
                            )
                            for e in sp.get("events") or []
                        ],
                        start_ns=int(sp.get("startTimeUnixNano", 0) or 0),
                        end_ns=int(sp.get("endTimeUnixNano", 0) or 0),
                    )
                )
    return out
