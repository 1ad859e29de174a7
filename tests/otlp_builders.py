"""Build OTLP requests for tests: real protobuf messages, encoded the way
exporters encode them (protobuf, or the OTLP/JSON mapping with hex ids)."""

from __future__ import annotations

import gzip
import os
import time
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.otlp.build import any_value, key_values  # noqa: F401 - tests build AnyValues through here too


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return key_values(attrs)


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def span(
    name: str = "chat gpt-4o",
    attrs: dict[str, Any] | None = None,
    *,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    parent: bytes = b"",
    start_ns: int | None = None,
    duration_ms: float = 120.0,
    kind: int = Span.SPAN_KIND_CLIENT,
    error: bool = False,
) -> Span:
    start = start_ns or time.time_ns() - 5 * 10**9
    sp = Span(
        trace_id=trace_id if trace_id is not None else new_trace_id(),
        span_id=span_id if span_id is not None else new_span_id(),
        parent_span_id=parent,
        name=name,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(duration_ms * 1e6),
    )
    sp.attributes.extend(kvs(attrs or {}))
    if error:
        sp.status.code = 2
        sp.status.message = "boom"
    return sp


def genai_chat(
    model: str = "gpt-4o",
    provider: str = "openai",
    input_tokens: int = 100,
    output_tokens: int = 20,
    **extra: Any,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    attrs.update(extra)
    return attrs


def request(spans: list[Span], service: str = "test-app", resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": service, **(resource or {})}))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    ss.spans.extend(spans)
    return req


def to_otlp_json(req: Any, snake_case: bool = False) -> bytes:
    """The OTLP/JSON mapping: camelCase (or snake_case) keys, hex ids."""
    doc = json_format.MessageToDict(req, preserving_proto_field_name=snake_case)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id") and isinstance(v, str):
                    import base64

                    node[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(node, list):
            for x in node:
                fix(x)

    fix(doc)
    return orjson.dumps(doc)


def gz(data: bytes) -> bytes:
    return gzip.compress(data)
