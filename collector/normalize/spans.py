"""OTLP trace request -> canonical spans (pure: no I/O, safe to run in a worker).

Validation is per span: a span with a missing or wrong-length id is rejected
and counted, the rest of its export is kept (OTLP partial success).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.normalize.attributes import decode_attributes, decode_attributes_plain
from collector.normalize.canonical import CanonicalSpan, GenAIFields
from collector.normalize.dialects import extract_genai
from collector.normalize.dialects.base import SpanEvent, SpanView

log = logging.getLogger(__name__)

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


@dataclass(slots=True)
class NormalizeResult:
    spans: list[CanonicalSpan] = field(default_factory=list)
    # Every span of the export in wire order, None where rejected: the engine
    # insert pairs normalised fields with the raw spans by position.
    wire: list[CanonicalSpan | None] = field(default_factory=list)
    # Per ResourceSpans: its raw text map and whether the engine may render it.
    resources: list[tuple[dict[str, str], bool]] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 5 and reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        if not self.rejected:
            return ""
        return f"{self.rejected} span(s) rejected: " + "; ".join(self.reasons)


def _id_problem(trace_id: bytes, span_id: bytes, parent: bytes) -> str | None:
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return f"trace_id must be 16 non-zero bytes, got {len(trace_id)}"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return f"span_id must be 8 non-zero bytes, got {len(span_id)}"
    if len(parent) not in (0, 8):
        return f"parent_span_id must be empty or 8 bytes, got {len(parent)}"
    return None


def _error_type(attrs: dict[str, Any], events: list[SpanEvent], status_code: int) -> str:
    et = attrs.get("error.type")
    if isinstance(et, str) and et:
        return et
    if status_code == 2:
        for ev in events:
            if ev.name == "exception":
                t = ev.attributes.get("exception.type")
                if isinstance(t, str) and t:
                    return t
        return "error"
    return ""


def normalize_traces(req: ExportTraceServiceRequest, project_id: str) -> NormalizeResult:
    out = NormalizeResult()
    for ri, rs in enumerate(req.resource_spans):
        resource, resource_text, plain = decode_attributes_plain(rs.resource.attributes)
        out.resources.append((resource_text, plain))
        service = resource.get("service.name")
        service_name = service if isinstance(service, str) and service else "unknown_service"
        for ss in rs.scope_spans:
            scope_name = ss.scope.name
            scope_version = ss.scope.version
            for sp in ss.spans:
                problem = _id_problem(sp.trace_id, sp.span_id, sp.parent_span_id)
                if problem:
                    out.reject(problem)
                    out.wire.append(None)
                    continue
                try:
                    one = _one_span(sp, project_id, resource, resource_text, service_name, scope_name, scope_version)
                except Exception as exc:  # noqa: BLE001 - one bad span must not sink the export
                    log.warning("span %s rejected: %s", sp.span_id.hex(), exc, exc_info=True)
                    out.reject(f"span could not be normalised: {type(exc).__name__}: {exc}")
                    out.wire.append(None)
                    continue
                one.resource_index = ri
                out.spans.append(one)
                out.wire.append(one)
    return out


def _one_span(
    sp: Any,
    project_id: str,
    resource: dict[str, Any],
    resource_text: dict[str, str],
    service_name: str,
    scope_name: str,
    scope_version: str,
) -> CanonicalSpan:
    attrs, attrs_text, plain = decode_attributes_plain(sp.attributes)
    events, event_texts = [], []
    for e in sp.events:
        values, texts = decode_attributes(e.attributes)
        events.append(SpanEvent(e.name, e.time_unix_nano, values))
        event_texts.append({"time_ns": e.time_unix_nano, "name": e.name, "attributes": texts})
    view = SpanView(
        name=sp.name,
        kind=sp.kind,
        attributes=attrs,
        resource=resource,
        scope_name=scope_name,
        scope_version=scope_version,
        events=events,
        start_ns=sp.start_time_unix_nano,
        end_ns=sp.end_time_unix_nano,
    )
    try:
        dialect, genai = extract_genai(view)
    except Exception:  # noqa: BLE001 - a dialect bug degrades to a plain span
        log.exception("dialect extraction failed for span %s", sp.span_id.hex())
        dialect, genai = "error", GenAIFields()
    status_code = sp.status.code
    start = sp.start_time_unix_nano
    end = max(sp.end_time_unix_nano, start)
    return CanonicalSpan(
        project_id=project_id,
        trace_id=sp.trace_id.hex(),
        span_id=sp.span_id.hex(),
        parent_span_id=sp.parent_span_id.hex(),
        name=sp.name,
        kind=sp.kind,
        start_ns=start,
        end_ns=end,
        status_code=status_code,
        status_message=sp.status.message,
        error_type=_error_type(attrs, events, status_code),
        service_name=service_name,
        scope_name=scope_name,
        scope_version=scope_version,
        dialect=dialect,
        genai=genai,
        resource_attributes=resource_text,
        span_attributes=attrs_text,
        events=event_texts,
        links=[
            {"trace_id": ln.trace_id.hex(), "span_id": ln.span_id.hex(), "attributes": decode_attributes(ln.attributes)[1]}
            for ln in sp.links
        ],
        attributes_plain=plain,
    )
