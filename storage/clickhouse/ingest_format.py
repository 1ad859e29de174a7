"""The wire format of the engine-side span insert: raw OTLP plus a columnar tail.

Why: building the raw attribute maps in Python (one str per key and value,
then Arrow) cost more CPU than normalising the span, and the insert then
parsed them again.  Instead the exporter's own protobuf bytes go to the
engine untouched, parsed by ClickHouse's Protobuf input format into the
`spans_ingest` Null table, and the `spans_ingest_mv` materialized view builds
the stored row: ids, times, names, status and the raw maps from the OTLP
message, everything the normaliser computed (span type, model, tokens, cost,
messages, ...) from a columnar *tail* appended to the same message.

A frame is one length-delimited `IngestRequest`:

    <OTLP ExportTraceServiceRequest bytes><tail: fields 1000+>

Protobuf merges concatenated messages, so appending the tail (project, the
`canon` columns, retention, version) needs no re-encoding of the export.
`canon` holds one entry per span of the export in wire order, rejected spans
included (`keep` = 0), so the view pairs them by position.

One Python definition (`CANON`) produces both the schema text the engine
reads (`format_schema_source = 'string'`, so a ClickHouse server needs no
schema file) and the message class the normaliser fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

NULL_TABLE = "spans_ingest"
MESSAGE = "IngestRequest"
SCALE = 10**12  # Decimal(18, 12) travels as int64 units of 1e-12 USD


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    proto: str  # proto3 scalar type


# Order is the field number (1-based).  Nullable values carry a bit in `nulls`
# (bit i = NULLABLE[i] is NULL) instead of a sentinel, so every value of the
# type stays representable.
CANON: tuple[Col, ...] = tuple(
    Col(n, t)
    for n, t in (
        ("keep", "uint32"), ("nulls", "uint64"), ("service_name", "string"), ("error_type", "string"),
        ("dialect", "string"), ("span_type", "string"), ("operation", "string"), ("provider", "string"),
        ("request_model", "string"), ("response_model", "string"), ("model", "string"), ("counts_usage", "uint32"),
        ("sent_input_tokens", "uint64"), ("sent_output_tokens", "uint64"), ("sent_cache_read_tokens", "uint64"),
        ("sent_cache_write_tokens", "uint64"), ("sent_reasoning_tokens", "uint64"), ("sent_total_tokens", "uint64"),
        ("uncached_input_tokens", "uint64"), ("cache_read_tokens", "uint64"), ("cache_write_tokens", "uint64"),
        ("output_text_tokens", "uint64"), ("reasoning_tokens", "uint64"), ("ttft_ns", "uint64"),
        ("temperature", "double"), ("max_tokens", "uint64"), ("top_p", "double"), ("seed", "int64"),
        ("stream", "uint32"), ("finish_reasons", "string"), ("response_id", "string"), ("session_id", "string"),
        ("user_id", "string"), ("tool_name", "string"), ("agent_name", "string"), ("input_messages", "string"),
        ("output_messages", "string"), ("system_instructions", "string"), ("tool_definitions", "string"),
        ("documents", "string"), ("provider_cost", "int64"), ("cost_input", "int64"), ("cost_cache_read", "int64"),
        ("cost_cache_write", "int64"), ("cost_output", "int64"), ("cost_reasoning", "int64"), ("cost_total", "int64"),
        ("price_status", "string"), ("price_source", "string"), ("price_version", "string"), ("events", "string"),
        ("links", "string"), ("content_kept", "uint32"), ("span_attributes", "string"),
    )
)  # fmt: skip
# One entry per *resource* (not per span): the resource map as JSON when the
# engine cannot render it from the wire values (see collector/frames.py).
RESOURCE_OVERRIDE_FIELD = len(CANON) + 1

NULLABLE: tuple[str, ...] = (
    "sent_input_tokens", "sent_output_tokens", "sent_cache_read_tokens", "sent_cache_write_tokens",
    "sent_reasoning_tokens", "sent_total_tokens", "ttft_ns", "temperature", "max_tokens", "top_p", "seed", "stream",
    "provider_cost", "cost_input", "cost_cache_read", "cost_cache_write", "cost_output", "cost_reasoning", "cost_total",
)  # fmt: skip
NULL_BIT = {name: 1 << i for i, name in enumerate(NULLABLE)}

_CH_TYPE = {"uint32": "UInt32", "uint64": "UInt64", "int64": "Int64", "double": "Float64", "string": "String"}
_FD_TYPE = {
    "uint32": descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
}

# The OTLP messages as the engine reads them: a wire-compatible subset of
# opentelemetry/proto/{common,resource,trace}/v1.  AnyValue's `oneof value`
# becomes proto3 `optional` fields (same numbers, same wire bytes) so each
# arrives as a Nullable column; arrays and kvlists stay raw bytes, because
# the normaliser renders those (and floats) itself.
_OTLP = """
message AnyValue {
  optional string string_value = 1; optional bool bool_value = 2; optional int64 int_value = 3;
  optional double double_value = 4; bytes array_value = 5; bytes kvlist_value = 6; optional bytes bytes_value = 7;
}
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message Scope { string name = 1; string version = 2; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; int32 kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  Status status = 15;
}
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
"""

_ANY = ("Tuple(string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64), "
        "double_value Nullable(Float64), array_value String, kvlist_value String, bytes_value Nullable(String))")
_KV = f"Array(Tuple(key String, value {_ANY}))"
_RESOURCE_SPANS = (
    f"Array(Tuple(resource Tuple(attributes {_KV}), scope_spans Array(Tuple(scope Tuple(name String, version String), "
    f"spans Array(Tuple(trace_id String, span_id String, parent_span_id String, name String, kind Int32, "
    f"start_time_unix_nano UInt64, end_time_unix_nano UInt64, attributes {_KV}, "
    f"status Tuple(message String, code Int32)))))))"
)


def schema_text() -> str:
    """The .proto text handed to the engine with every insert."""
    canon = "\n".join(f"  repeated {c.proto} {c.name} = {i};" for i, c in enumerate(CANON, 1))
    canon += f"\n  repeated string resource_attributes = {RESOURCE_OVERRIDE_FIELD};"
    return (
        'syntax = "proto3";\n' + _OTLP + f"message Canon {{\n{canon}\n}}\n"
        f"message {MESSAGE} {{\n  repeated ResourceSpans resource_spans = 1;\n  string project_id = 1000;\n"
        "  Canon canon = 1001;\n  uint32 retention_days = 1002;\n  uint64 version = 1003;\n}\n"
    )


def null_table_columns() -> str:
    """Column list of the Null table (it must mirror `schema_text`)."""
    canon = ", ".join(f"{c.name} Array({_CH_TYPE[c.proto]})" for c in CANON)
    canon += ", resource_attributes Array(String)"
    return (f"resource_spans {_RESOURCE_SPANS}, project_id String, canon Tuple({canon}), "
            "retention_days UInt32, version UInt64")


@cache
def tail_class() -> Any:
    """The Python message for the tail (fields 1000+ of `IngestRequest`)."""
    fdp = descriptor_pb2.FileDescriptorProto(name="llmobs_ingest_tail.proto", package="llmobs.ingest", syntax="proto3")
    canon = fdp.message_type.add(name="Canon")
    label = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    for i, c in enumerate(CANON, 1):
        canon.field.add(name=c.name, number=i, type=_FD_TYPE[c.proto], label=label)
    canon.field.add(name="resource_attributes", number=RESOURCE_OVERRIDE_FIELD, type=_FD_TYPE["string"], label=label)
    tail = fdp.message_type.add(name="Tail")
    opt = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    tail.field.add(name="project_id", number=1000, type=_FD_TYPE["string"], label=opt)
    tail.field.add(name="canon", number=1001, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE, label=opt,
                   type_name=".llmobs.ingest.Canon")
    tail.field.add(name="retention_days", number=1002, type=_FD_TYPE["uint32"], label=opt)
    tail.field.add(name="version", number=1003, type=_FD_TYPE["uint64"], label=opt)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("llmobs.ingest.Tail"))


def insert_settings() -> dict[str, Any]:
    return {"format_schema_source": "string", "format_schema": schema_text(), "format_schema_message_name": MESSAGE}


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _text(v: str) -> str:
    """An AnyValue tuple as the raw map's text, for the kinds the engine renders
    exactly like the normaliser (collector/normalize/attributes.py `to_text`)."""
    return (f"multiIf(isNotNull({v}.string_value), assumeNotNull({v}.string_value), "
            f"isNotNull({v}.int_value), toString(assumeNotNull({v}.int_value)), "
            f"isNotNull({v}.bool_value), if(assumeNotNull({v}.bool_value), 'true', 'false'), '')")


def _map(attrs: str, override: str) -> str:
    return (f"if({override} = '', mapFromArrays(arrayMap(kv -> kv.key, {attrs}), arrayMap(kv -> {_text('kv.value')}, {attrs})), "
            f"CAST(JSONExtract({override}, 'Map(String, String)'), 'Map(LowCardinality(String), String)'))")


def _nullable(col: str, typ: str) -> str:
    return f"if(bitTest(c_nulls, {NULLABLE.index(col)}), NULL, CAST(c_{col}, 'Nullable({typ})'))"


def _money(col: str) -> str:
    return (f"if(bitTest(c_nulls, {NULLABLE.index(col)}), NULL, "
            f"toDecimal64(c_{col}, 0) * toDecimal64('0.000000000001', 12))")


def view_select(db: str) -> str:
    """The SELECT of `spans_ingest_mv`: one stored row per kept span of every
    frame, in the column order of the spans table."""
    joined = ", ".join(f"canon.{c.name} AS c_{c.name}" for c in CANON)
    nullable = {
        "sent_input_tokens": "UInt64", "sent_output_tokens": "UInt64", "sent_cache_read_tokens": "UInt64",
        "sent_cache_write_tokens": "UInt64", "sent_reasoning_tokens": "UInt64", "sent_total_tokens": "UInt64",
        "ttft_ns": "UInt64", "temperature": "Float64", "max_tokens": "UInt64", "top_p": "Float64", "seed": "Int64",
        "stream": "UInt8",
    }  # fmt: skip
    money = ("provider_cost", "cost_input", "cost_cache_read", "cost_cache_write", "cost_output", "cost_reasoning",
             "cost_total")  # fmt: skip
    cols = [
        "project_id",
        "fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano), 'UTC') AS start_time",
        "fromUnixTimestamp64Nano(toInt64(greatest(sp.end_time_unix_nano, sp.start_time_unix_nano)), 'UTC') AS end_time",
        "greatest(sp.end_time_unix_nano, sp.start_time_unix_nano) - sp.start_time_unix_nano AS duration_ns",
        "lower(hex(sp.trace_id)) AS trace_id", "lower(hex(sp.span_id)) AS span_id",
        "lower(hex(sp.parent_span_id)) AS parent_span_id", "sp.name AS name", "toUInt8(sp.kind) AS kind",
        "toUInt8(sp.status.code) AS status_code", "sp.status.message AS status_message", "c_error_type AS error_type",
        "c_service_name AS service_name", "sc.name AS scope_name", "sc.version AS scope_version",
    ]
    cols += [f"c_{n} AS {n}" for n in ("dialect", "span_type", "operation", "provider", "request_model",
                                       "response_model", "model")]
    cols.append("toUInt8(c_counts_usage) AS counts_usage")
    cols += [f"{_nullable(n, t)} AS {n}" for n, t in nullable.items() if n.startswith("sent_")]
    cols += [f"c_{n} AS {n}" for n in ("uncached_input_tokens", "cache_read_tokens", "cache_write_tokens",
                                       "output_text_tokens", "reasoning_tokens")]
    cols += [f"{_nullable(n, t)} AS {n}" for n, t in nullable.items() if not n.startswith("sent_")]
    cols.append("if(c_finish_reasons = '', [], JSONExtract(c_finish_reasons, 'Array(String)')) AS finish_reasons")
    cols += [f"c_{n} AS {n}" for n in ("response_id", "session_id", "user_id", "tool_name", "agent_name",
                                       "input_messages", "output_messages", "system_instructions",
                                       "tool_definitions", "documents")]
    cols += [f"{_money(n)} AS {n}" for n in money]
    cols += [f"c_{n} AS {n}" for n in ("price_status", "price_source", "price_version")]
    cols.append(f"resource_maps[ri] AS resource_attributes")
    cols.append(f"{_map('sp.attributes', 'c_span_attributes')} AS span_attributes")
    cols += ["c_events AS events", "c_links AS links", "toUInt8(c_content_kept) AS content_kept",
             "toUInt16(retention_days) AS retention_days",
             "fromUnixTimestamp64Nano(toInt64(version), 'UTC') AS ingested_at", "version"]
    flat = "arrayFlatten(arrayMap(rs -> arrayMap(ss -> {x}, rs.scope_spans), resource_spans))"
    return (
        "WITH " + flat.format(x="ss.spans") + " AS flat_spans, "
        + flat.format(x="arrayMap(s -> ss.scope, ss.spans)") + " AS flat_scopes, "
        "arrayFlatten(arrayMap((rs, i) -> arrayMap(ss -> arrayMap(s -> i, ss.spans), rs.scope_spans), "
        "resource_spans, arrayEnumerate(resource_spans))) AS flat_resource, "
        f"arrayMap((rs, o) -> {_map('rs.resource.attributes', 'o')}, resource_spans, canon.resource_attributes) AS resource_maps "
        "SELECT " + ", ".join(cols) + f" FROM {db}{NULL_TABLE} "
        f"ARRAY JOIN flat_spans AS sp, flat_scopes AS sc, flat_resource AS ri, {joined} WHERE c_keep = 1"
    )
