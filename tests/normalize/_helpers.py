"""Builders and assertions shared by the dialect tests."""

from __future__ import annotations

from typing import Any

from collector.normalize.canonical import GenAIFields
from collector.normalize.dialects import extract_genai
from collector.normalize.dialects.base import SpanEvent, SpanView


def span(
    attrs: dict[str, Any],
    name: str = "span",
    scope: str = "",
    resource: dict[str, Any] | None = None,
    events: list[tuple[str, dict[str, Any]]] | None = None,
    kind: int = 3,
) -> SpanView:
    return SpanView(
        name=name,
        kind=kind,
        attributes=attrs,
        resource=resource or {},
        scope_name=scope,
        events=[SpanEvent(name=n, time_ns=i, attributes=a) for i, (n, a) in enumerate(events or [])],
        start_ns=1,
        end_ns=2,
    )


def run(s: SpanView, dialect: str) -> GenAIFields:
    got, fields = extract_genai(s)
    assert got == dialect, f"expected dialect {dialect}, got {got}"
    return fields


def split(f: GenAIFields) -> tuple[int, int, int, int, int]:
    s = f.usage.split()
    return (s.input_uncached, s.cache_read, s.cache_write, s.output_text, s.reasoning)


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}
