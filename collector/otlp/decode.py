"""Bytes on the wire -> OTLP request messages, with the guards OTLP asks for.

Both encodings land in the same protobuf classes, so everything after this
module is encoding-blind.  Guards: a size cap applied to the body *and* to the
decompressed stream (a gzip bomb stops at the cap instead of filling memory),
and a salvage path that keeps the decodable spans of a request whose bytes are
otherwise well framed (one span with invalid UTF-8 must not sink its batch).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.otlp import errors

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

M = TypeVar("M", bound=Message)


def media_type(content_type: str | None) -> str:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if base == JSON:
        return JSON
    raise errors.unsupported_media_type(
        f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}"
    )


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "deflate"):
        raise errors.unsupported_media_type(f"unsupported Content-Encoding {encoding!r}: use gzip")
    wbits = 16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise errors.bad_request(f"body is not valid {enc}: {exc}") from exc
    if len(out) > limit or d.unconsumed_tail:
        raise errors.too_large(f"decompressed body exceeds the {limit}-byte limit")
    if not d.eof:
        raise errors.bad_request(f"{enc} body is truncated")
    return out


# --- JSON --------------------------------------------------------------------

_ID_KEYS = frozenset({"traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"})


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping expects base64.
    An id that is not valid hex becomes empty, so that span alone is rejected."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode() if value else ""
                except ValueError:
                    node[key] = ""
            elif isinstance(value, (dict, list)):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _hex_ids_to_base64(item)


def parse_json(data: bytes, cls: type[M]) -> M:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise errors.bad_request("invalid OTLP/JSON: the body must be a JSON object")
    _hex_ids_to_base64(doc)
    msg = cls()
    try:
        json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise errors.bad_request(f"invalid OTLP/JSON {cls.__name__}: {exc}") from exc
    return msg


# --- protobuf ----------------------------------------------------------------


@dataclass(slots=True)
class Salvage:
    """Spans dropped while salvaging a partly undecodable protobuf request."""

    dropped_spans: int = 0
    reason: str = ""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, bytes | int]]:
    """Split one message into (field number, wire type, payload) without
    interpreting it; raises DecodeError when the framing itself is broken."""
    out: list[tuple[int, int, bytes | int]] = []
    pos = 0
    n = len(buf)
    while pos < n:
        tag, pos = _varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
            out.append((num, wt, val))
        elif wt == 1:
            if pos + 8 > n:
                raise DecodeError("truncated fixed64")
            out.append((num, wt, buf[pos : pos + 8]))
            pos += 8
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > n:
                raise DecodeError("truncated length-delimited field")
            out.append((num, wt, buf[pos : pos + ln]))
            pos += ln
        elif wt == 5:
            if pos + 4 > n:
                raise DecodeError("truncated fixed32")
            out.append((num, wt, buf[pos : pos + 4]))
            pos += 4
        else:
            raise DecodeError(f"bad wire type {wt}")
    return out


def _salvage_traces(data: bytes, salvage: Salvage) -> ExportTraceServiceRequest:
    """Rebuild the request one ResourceSpans / ScopeSpans / Span at a time,
    keeping every piece that decodes on its own."""
    req = ExportTraceServiceRequest()
    for num, wt, payload in _fields(data):
        if num != 1 or wt != 2:
            continue
        assert isinstance(payload, bytes)
        rs = req.resource_spans.add()
        try:
            rs.ParseFromString(payload)
            continue
        except DecodeError:
            rs.Clear()
        for rnum, rwt, rpayload in _fields(payload):
            if rwt != 2:
                continue
            assert isinstance(rpayload, bytes)
            if rnum == 1:
                try:
                    rs.resource.ParseFromString(rpayload)
                except DecodeError:
                    rs.resource.Clear()  # keep the spans; lose only resource attributes
            elif rnum == 2:
                _salvage_scope(rpayload, rs, salvage)
    return req


def _salvage_scope(payload: bytes, rs: ResourceSpans, salvage: Salvage) -> None:
    ss: ScopeSpans = rs.scope_spans.add()
    try:
        ss.ParseFromString(payload)
        return
    except DecodeError:
        ss.Clear()
    for num, wt, sub in _fields(payload):
        if wt != 2:
            continue
        assert isinstance(sub, bytes)
        if num == 1:
            try:
                ss.scope.ParseFromString(sub)
            except DecodeError:
                ss.scope.Clear()
        elif num == 2:
            span = Span()
            try:
                span.ParseFromString(sub)
            except DecodeError as exc:
                salvage.dropped_spans += 1
                salvage.reason = f"span not decodable: {exc}"
                continue
            ss.spans.append(span)


def parse_protobuf_traces(data: bytes) -> tuple[ExportTraceServiceRequest, Salvage]:
    salvage = Salvage()
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(data)
        return req, salvage
    except DecodeError as first:
        try:
            return _salvage_traces(data, salvage), salvage
        except DecodeError:
            raise errors.bad_request(f"undecodable ExportTraceServiceRequest: {first}") from first


def parse_protobuf(data: bytes, cls: type[M]) -> M:
    msg = cls()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise errors.bad_request(f"undecodable {cls.__name__}: {exc}") from exc
    return msg


def decode_traces(data: bytes, mtype: str) -> tuple[ExportTraceServiceRequest, Salvage]:
    if mtype == JSON:
        return parse_json(data, ExportTraceServiceRequest), Salvage()
    return parse_protobuf_traces(data)


def decode_logs(data: bytes, mtype: str) -> ExportLogsServiceRequest:
    if mtype == JSON:
        return parse_json(data, ExportLogsServiceRequest)
    return parse_protobuf(data, ExportLogsServiceRequest)


def decode_metrics(data: bytes, mtype: str) -> ExportMetricsServiceRequest:
    if mtype == JSON:
        return parse_json(data, ExportMetricsServiceRequest)
    return parse_protobuf(data, ExportMetricsServiceRequest)
