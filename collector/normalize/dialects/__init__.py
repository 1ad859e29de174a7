"""The dialect registry: exactly one dialect per span, first match wins.

Order (most specific marker first, the generic semconv reader last):

1. ``vercel_ai``   ``ai.*`` keys; its do* spans also carry ``gen_ai.*`` and
                   OpenInference's Vercel processor may add
                   ``openinference.span.kind``, but only this module knows
                   that outer spans repeat their children's usage.
2. ``vllm``        ``gen_ai.latency.*`` / ``llm_request``; otherwise looks like
                   old semconv with no provider.
3. ``pydantic_ai`` ``pydantic-ai`` scope; semconv plus cost, usage details and
                   agent-run spans with summed usage.
4. ``openlit``     ``telemetry.sdk.name=openlit`` resource; semconv plus cost,
                   TTFT and provider-native token counts.
5. ``langsmith``   ``langsmith.*`` keys; semconv keys with LangChain payloads.
6. ``openinference`` ``openinference.span.kind`` / ``llm.*`` keys.
7. ``openllmetry`` ``traceloop.*`` / ``llm.request.type`` / ``gen_ai.prompt.N.*``;
                   also sets ``gen_ai.system`` so must precede the generic one.
8. ``otel_genai``  any ``gen_ai.*`` key or event.

Each module exposes ``name``, ``detect(span)`` and ``extract(span)`` (the
`Dialect` protocol); detection is a handful of dict lookups.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from collector.normalize import providers
from collector.normalize.canonical import GenAIFields, SpanType
from collector.normalize.dialects import (
    langsmith,
    openinference,
    openlit,
    openllmetry,
    otel_genai,
    pydantic_ai,
    vercel_ai,
    vllm,
)
from collector.normalize.dialects._util import first_str, loads
from collector.normalize.dialects.base import Dialect, SpanEvent, SpanView

__all__ = ["DIALECTS", "Dialect", "SpanEvent", "SpanView", "extract_genai", "by_name"]

log = logging.getLogger(__name__)

DIALECTS: tuple[Dialect, ...] = cast(
    "tuple[Dialect, ...]",
    (vercel_ai, vllm, pydantic_ai, openlit, langsmith, openinference, openllmetry, otel_genai),
)

SESSION_KEYS = (
    "session.id",
    "gen_ai.conversation.id",
    "langfuse.session.id",
    "ai.telemetry.metadata.sessionId",
    "ai.telemetry.metadata.session_id",
    "ai.telemetry.metadata.langfuseSessionId",
    "traceloop.association.properties.session_id",
    "traceloop.association.properties.sessionId",
    "langsmith.metadata.session_id",
    "langsmith.metadata.thread_id",
    "langsmith.metadata.conversation_id",
    "thread.id",
)
USER_KEYS = (
    "user.id",
    "enduser.id",
    "langfuse.user.id",
    "ai.telemetry.metadata.userId",
    "ai.telemetry.metadata.user_id",
    "ai.telemetry.metadata.langfuseUserId",
    "traceloop.association.properties.user_id",
    "traceloop.association.properties.userId",
    "langsmith.metadata.user_id",
    "gen_ai.user.id",
    "gen_ai.user",
    "gen_ai.request.user",
)


_LOGGED: set[tuple[str, str]] = set()


def _log_failure(dialect: str, span_name: str, exc: Exception) -> None:
    """Warn once per (dialect, error type): a systematic bug must not flood
    the log at tens of thousands of spans per second."""
    key = (dialect, type(exc).__name__)
    if key in _LOGGED or len(_LOGGED) > 1000:
        log.debug("dialect %s failed on span %r", dialect, span_name, exc_info=exc)
        return
    _LOGGED.add(key)
    log.warning("dialect %s failed on span %r; raw attributes kept, fields left empty", dialect, span_name, exc_info=exc)


def by_name(name: str) -> Dialect | None:
    for d in DIALECTS:
        if d.name == name:
            return d
    return None


def _ids(fields: GenAIFields, attrs: dict[str, Any]) -> None:
    if fields.session_id is None:
        fields.session_id = first_str(attrs, SESSION_KEYS)
    if fields.user_id is None:
        fields.user_id = first_str(attrs, USER_KEYS)
    if (fields.session_id is None or fields.user_id is None) and "metadata" in attrs:
        # A JSON "metadata" attribute (pydantic-ai agent metadata, OpenInference).
        raw = attrs["metadata"]
        meta = loads(raw) if isinstance(raw, str) and len(raw) < 65536 else raw
        if isinstance(meta, dict):
            if fields.session_id is None:
                fields.session_id = first_str(meta, ("session_id", "sessionId", "thread_id", "conversation_id"))
            if fields.user_id is None:
                fields.user_id = first_str(meta, ("user_id", "userId"))


def _safe_span(span: Any) -> SpanView:
    """Coerce a malformed SpanView (non-dict attributes, None events) into a
    usable one instead of failing later in every dialect."""
    attrs = span.attributes if isinstance(getattr(span, "attributes", None), dict) else {}
    res = span.resource if isinstance(getattr(span, "resource", None), dict) else {}
    events = [e for e in (getattr(span, "events", None) or []) if isinstance(e, SpanEvent)]
    name = span.name if isinstance(getattr(span, "name", None), str) else ""
    scope = span.scope_name if isinstance(getattr(span, "scope_name", None), str) else ""
    if (
        attrs is getattr(span, "attributes", None)
        and res is getattr(span, "resource", None)
        and name is getattr(span, "name", None)
        and scope is getattr(span, "scope_name", None)
        and len(events) == len(getattr(span, "events", None) or [])
    ):
        return cast(SpanView, span)
    return SpanView(
        name=name,
        kind=span.kind if isinstance(getattr(span, "kind", None), int) else 0,
        attributes=attrs,
        resource=res,
        scope_name=scope,
        scope_version=span.scope_version if isinstance(getattr(span, "scope_version", None), str) else "",
        events=events,
        start_ns=getattr(span, "start_ns", 0) if isinstance(getattr(span, "start_ns", 0), int) else 0,
        end_ns=getattr(span, "end_ns", 0) if isinstance(getattr(span, "end_ns", 0), int) else 0,
    )


def extract_genai(span: SpanView) -> tuple[str, GenAIFields]:
    """(dialect name, canonical fields) for one span; never raises.

    A dialect that fails on odd input yields empty fields under its own name
    (the raw attributes are stored, so the span can be re-normalised once the
    dialect is fixed); spans no dialect claims get ("none", GenAIFields()).
    """
    try:
        span = _safe_span(span)
    except Exception:  # pragma: no cover - defensive
        return "none", GenAIFields()
    for d in DIALECTS:
        try:
            hit = d.detect(span)
        except Exception:
            log.debug("dialect %s detect failed", d.name, exc_info=True)
            continue
        if not hit:
            continue
        try:
            fields = d.extract(span)
            _ids(fields, span.attributes)
            return d.name, providers.finalize(fields, span, d.name)
        except Exception as exc:
            _log_failure(d.name, span.name, exc)
            return d.name, GenAIFields()
    fields = GenAIFields(span_type=SpanType.OTHER)
    try:
        _ids(fields, span.attributes)
    except Exception:  # pragma: no cover - defensive
        pass
    return "none", fields
