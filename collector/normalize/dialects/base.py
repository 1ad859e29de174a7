"""The interface every dialect module implements.

A dialect is a pure function from one span (its attributes, events, scope and
resource) to `GenAIFields`.  No I/O, no globals: the registry picks exactly one
dialect per span, so a span never takes tokens from one convention and
messages from another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from collector.normalize.canonical import GenAIFields


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class SpanView:
    """What a dialect may look at.  Attribute values are decoded AnyValues:
    str, int, float, bool, bytes, list or dict (kvlist), never protobuf."""

    name: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    events: list[SpanEvent] = field(default_factory=list)
    start_ns: int = 0
    end_ns: int = 0


class Dialect(Protocol):
    name: str

    def detect(self, span: SpanView) -> bool: ...

    def extract(self, span: SpanView) -> GenAIFields: ...
