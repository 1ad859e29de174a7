"""Replayed calls as OTLP spans (GenAI semconv v1.37 attributes), so they go
through llmobs' own ingest like any traffic: normalised, priced, shown in
traces and in cost views.  They carry `llmobs.replay.*` attributes linking
them to the run, the variant and the source span, and selection skips them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from replay.client import CallResult
from replay.request import ReplayRequest

SERVICE_NAME = "llmobs-replay"


def ids(run_id: str, variant: str, source_span_id: str) -> tuple[bytes, bytes]:
    """Deterministic: a resumed or retried replay rewrites the same span."""
    h = hashlib.sha256(f"{run_id}/{variant}/{source_span_id}".encode()).digest()
    return h[:16], h[16:24]


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _parts_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        content = m.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(content, str) and content:
            parts.append({"type": "text", "content": content})
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") or {}
            parts.append({"type": "tool_call", "id": tc.get("id"), "name": fn.get("name"), "arguments": fn.get("arguments")})
        if m["role"] == "tool":
            parts = [{"type": "tool_call_response", "id": m.get("tool_call_id"), "response": content}]
        if m["role"] == "system":
            system.extend(parts)
        else:
            out.append({"role": m["role"], "parts": parts})
    return system, out


def result_span(project_run: str, variant: str, model: str, req: ReplayRequest, body: dict[str, Any],
                res: CallResult) -> Span:  # fmt: skip
    trace_id, span_id = ids(project_run, variant, req.source_span_id)
    system, inputs = _parts_messages(body["messages"])
    out_parts: list[dict[str, Any]] = [{"type": "text", "content": res.text}] if res.text else []
    out_parts += [{"type": "tool_call", "id": c["id"], "name": c["name"], "arguments": c["arguments"]} for c in res.tool_calls]
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.input.messages": orjson.dumps(inputs).decode(),
        "llmobs.replay.run_id": project_run,
        "llmobs.replay.variant": variant,
        "llmobs.replay.source_trace_id": req.source_trace_id,
        "llmobs.replay.source_span_id": req.source_span_id,
        "llmobs.replay.endpoint": res.endpoint,
        "llmobs.replay.attempts": res.attempts,
    }
    if system:
        attrs["gen_ai.system_instructions"] = orjson.dumps(system).decode()
    for key, attr in (("temperature", "gen_ai.request.temperature"), ("top_p", "gen_ai.request.top_p"),
                      ("max_tokens", "gen_ai.request.max_tokens"), ("seed", "gen_ai.request.seed")):  # fmt: skip
        if body.get(key) is not None:
            attrs[attr] = body[key]
    if res.ok:
        attrs.update({
            "gen_ai.response.model": res.response_model or model,
            "gen_ai.response.id": res.response_id,
            "gen_ai.usage.input_tokens": res.input_tokens,
            "gen_ai.usage.output_tokens": res.output_tokens,
            "gen_ai.output.messages": orjson.dumps(
                [{"role": "assistant", "parts": out_parts, "finish_reason": res.finish_reason or "stop"}]
            ).decode(),
        })  # fmt: skip
        if res.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = res.finish_reason
        if res.ttft_ns is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = res.ttft_ns / 1e9
    else:
        attrs["error.type"] = "replay_error"
    span = Span(
        trace_id=trace_id, span_id=span_id, name=f"chat {model}", kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=res.started_ns, end_time_unix_nano=res.started_ns + max(res.e2e_ns, 1),
        attributes=[_kv(k, v) for k, v in attrs.items()],
        status=Status(code=Status.STATUS_CODE_OK if res.ok else Status.STATUS_CODE_ERROR, message=res.error[:500]),
    )  # fmt: skip
    return span


def export_request(spans: list[Span]) -> bytes:
    req = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[_kv("service.name", SERVICE_NAME)]),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="llmobs.replay"), spans=spans)],
            )
        ]
    )
    return req.SerializeToString()
