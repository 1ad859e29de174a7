"""Probe: CPU per span of the current ingest path against an engine-side one.

Why this exists: the ingest target (50k stored spans/s on 2 cores) needs about
40 us of CPU per span in total, and the current path spends most of that in
Python (decode, normalise, price, build Arrow) before ClickHouse parses an
Arrow batch.  This probe measures, in one process and on the same exports,
(1) the Python preparation, (2) the Arrow insert of its output, and (3) an
engine-side path: the raw OTLP protobuf inserted into a Null table through
a hand-written schema (`bench/probes/otlp_subset.proto`) with a materialized
view that computes the canonical columns in SQL.  The view covers only the
OTel GenAI keys and two model prices: it is a cost model for the design, not
a normaliser.  CPU time is the process's (engine threads included), so the
figures hold up better on a busy machine than wall time; compare the ratios.

    python -m bench.probes.engine_ingest [--exports 40]
"""
from __future__ import annotations

VAL = "Tuple(string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64), double_value Nullable(Float64), array_value String, kvlist_value String, bytes_value Nullable(String))"
KV = f"Array(Tuple(key String, value {VAL}))"
NULL_TABLE = f"""
CREATE TABLE otlp_in (
  resource_spans Array(Tuple(
    resource Tuple(attributes {KV}),
    scope_spans Array(Tuple(
      scope Tuple(name String, version String),
      spans Array(Tuple(trace_id String, span_id String, trace_state String, parent_span_id String, name String, kind Int32,
        start_time_unix_nano UInt64, end_time_unix_nano UInt64, attributes {KV},
        events Array(Tuple(time_unix_nano UInt64, name String, attributes {KV})),
        status Tuple(message String, code Int32)))
    ))
  )),
  x_project_id String
) ENGINE = Null
"""


def text(v: str) -> str:
    """An AnyValue tuple as the text the spans table's maps hold."""
    return (f"coalesce({v}.string_value, if(isNotNull({v}.int_value), toString(assumeNotNull({v}.int_value)), NULL), "
            f"if(isNotNull({v}.double_value), toString(assumeNotNull({v}.double_value)), NULL), "
            f"if(isNotNull({v}.bool_value), if(assumeNotNull({v}.bool_value), 'true', 'false'), NULL), {v}.array_value)")


def amap(arr: str) -> str:
    return f"mapFromArrays(arrayMap(x -> x.key, {arr}), arrayMap(x -> {text('x.value')}, {arr}))"


def first(keys: list[str], conv: str = "toUInt64OrNull") -> str:
    return "coalesce(" + ", ".join(f"{conv}(a['{k}'])" for k in keys) + ")"

MV = f"""
CREATE MATERIALIZED VIEW otlp_mv TO spans_eng AS
WITH {amap('sp.attributes')} AS a, {amap('rs.resource.attributes')} AS r
SELECT x_project_id AS project_id,
  fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano), 'UTC') AS start_time,
  fromUnixTimestamp64Nano(toInt64(sp.end_time_unix_nano), 'UTC') AS end_time,
  sp.end_time_unix_nano - sp.start_time_unix_nano AS duration_ns,
  lower(hex(sp.trace_id)) AS trace_id, lower(hex(sp.span_id)) AS span_id, lower(hex(sp.parent_span_id)) AS parent_span_id,
  sp.name AS name, toUInt8(sp.kind) AS kind, toUInt8(sp.status.code) AS status_code, sp.status.message AS status_message,
  a['error.type'] AS error_type, r['service.name'] AS service_name, ss.scope.name AS scope_name, ss.scope.version AS scope_version,
  'otel_genai' AS dialect,
  multiIf(a['gen_ai.operation.name'] IN ('chat','text_completion','generate_content'), 'llm', a['gen_ai.operation.name'] = 'embeddings', 'embedding',
          a['gen_ai.operation.name'] = 'execute_tool', 'tool', a['gen_ai.operation.name'] = 'invoke_agent', 'agent', 'other') AS span_type,
  a['gen_ai.operation.name'] AS operation,
  coalesce(nullIf(a['gen_ai.provider.name'], ''), a['gen_ai.system']) AS provider,
  a['gen_ai.request.model'] AS request_model, a['gen_ai.response.model'] AS response_model,
  if(a['gen_ai.response.model'] != '', a['gen_ai.response.model'], a['gen_ai.request.model']) AS model,
  1 AS counts_usage,
  {first(['gen_ai.usage.input_tokens','gen_ai.usage.prompt_tokens','llm.token_count.prompt'])} AS sent_input_tokens,
  {first(['gen_ai.usage.output_tokens','gen_ai.usage.completion_tokens','llm.token_count.completion'])} AS sent_output_tokens,
  {first(['gen_ai.usage.cache_read.input_tokens','gen_ai.usage.cache_read_input_tokens'])} AS sent_cache_read_tokens,
  {first(['gen_ai.usage.cache_creation.input_tokens'])} AS sent_cache_write_tokens,
  {first(['gen_ai.usage.reasoning_tokens'])} AS sent_reasoning_tokens,
  {first(['llm.usage.total_tokens','gen_ai.usage.total_tokens'])} AS sent_total_tokens,
  ifNull(sent_input_tokens, 0) - ifNull(sent_cache_read_tokens, 0) AS uncached_input_tokens,
  ifNull(sent_cache_read_tokens, 0) AS cache_read_tokens, ifNull(sent_cache_write_tokens, 0) AS cache_write_tokens,
  ifNull(sent_output_tokens, 0) AS output_text_tokens, ifNull(sent_reasoning_tokens, 0) AS reasoning_tokens,
  toUInt64OrNull(a['gen_ai.server.time_to_first_token']) AS ttft_ns,
  toFloat64OrNull(a['gen_ai.request.temperature']) AS temperature, toUInt64OrNull(a['gen_ai.request.max_tokens']) AS max_tokens,
  toFloat64OrNull(a['gen_ai.request.top_p']) AS top_p, toInt64OrNull(a['gen_ai.request.seed']) AS seed, CAST(NULL, 'Nullable(UInt8)') AS stream,
  JSONExtract(a['gen_ai.response.finish_reasons'], 'Array(String)') AS finish_reasons, a['gen_ai.response.id'] AS response_id,
  coalesce(nullIf(a['session.id'], ''), a['gen_ai.conversation.id']) AS session_id, a['user.id'] AS user_id,
  a['gen_ai.tool.name'] AS tool_name, a['gen_ai.agent.name'] AS agent_name,
  a['gen_ai.input.messages'] AS input_messages, a['gen_ai.output.messages'] AS output_messages,
  a['gen_ai.system_instructions'] AS system_instructions, '' AS tool_definitions, '' AS documents,
  CAST(NULL, 'Nullable(Decimal(18,12))') AS provider_cost,
  toDecimal64(uncached_input_tokens, 0) * transform(model, ['gpt-4o','gpt-4o-mini'], [toDecimal64('0.0000025', 12), toDecimal64('0.00000015', 12)], toDecimal64(0, 12)) AS cost_input,
  CAST(NULL, 'Nullable(Decimal(18,12))') AS cost_cache_read, CAST(NULL, 'Nullable(Decimal(18,12))') AS cost_cache_write,
  toDecimal64(output_text_tokens, 0) * transform(model, ['gpt-4o','gpt-4o-mini'], [toDecimal64('0.00001', 12), toDecimal64('0.0000006', 12)], toDecimal64(0, 12)) AS cost_output,
  CAST(NULL, 'Nullable(Decimal(18,12))') AS cost_reasoning, cost_input + cost_output AS cost_total,
  'priced' AS price_status, 'genai-prices' AS price_source, '0.2' AS price_version,
  r AS resource_attributes, a AS span_attributes, '' AS events, '' AS links, 1 AS content_kept,
  30 AS retention_days, now64(6) AS ingested_at, toUInt64(toUnixTimestamp64Nano(now64(9))) AS version
FROM otlp_in ARRAY JOIN resource_spans AS rs ARRAY JOIN rs.scope_spans AS ss ARRAY JOIN ss.spans AS sp
"""


import argparse
import resource
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from bench.traffic import build_batches
from collector.pipeline import Preparer
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.migrate import upgrade
from storage.metadata.db import upgrade as meta_upgrade

PROTO = Path(__file__).with_name("otlp_subset.proto")
EXPORTS_PER_INSERT = 20  # x 512 spans = 10,240 spans per insert


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def varint(n: int) -> bytes:
    out = b""
    while n > 0x7F:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def frame(body: bytes, project: str) -> bytes:
    """One length-delimited ExportTraceServiceRequest with x_project_id (field 1000) appended."""
    p = project.encode()
    msg = body + b"\xc2\x3e" + varint(len(p)) + p
    return varint(len(msg)) + msg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exports", type=int, default=40, help="exports of 512 spans")
    ap.add_argument("--profile", default="light", choices=["light", "mixed", "heavy"])
    args = ap.parse_args()
    d = tempfile.mkdtemp()
    meta_upgrade(f"sqlite:///{d}/m.db")
    prep = Preparer(f"sqlite:///{d}/m.db", 30, 60, 64 << 20)
    batches, _ = build_batches(7, args.exports, 512, time.time_ns(), profile=args.profile)
    client = connect(ClickHouseTarget(f"chdb://{d}/ch"))
    upgrade(client)
    client.command("CREATE TABLE spans_eng AS spans")
    client.command(NULL_TABLE)
    client.command(MV)
    per = EXPORTS_PER_INSERT
    res: dict[str, list[float]] = {"python_prepare": [], "arrow_insert": [], "engine_insert": []}
    for rep in range(len(batches) // per):
        grp = batches[rep * per:(rep + 1) * per]
        n = per * 512
        c = cpu()
        table = pa.concat_tables([prep.traces(b, None, "application/x-protobuf", "p1").table for b in grp])
        res["python_prepare"].append((cpu() - c) / n * 1e6)
        c = cpu()
        client.insert_arrow("spans", table)
        res["arrow_insert"].append((cpu() - c) / n * 1e6)
        raw = b"".join(frame(b, "p1") for b in grp)
        c = cpu()
        client.raw_insert("otlp_in", None, raw, fmt="Protobuf",
                          settings={"format_schema": f"{PROTO}:ExportTraceServiceRequest"})  # fmt: skip
        res["engine_insert"].append((cpu() - c) / n * 1e6)
    base = sum(res["python_prepare"]) / len(res["python_prepare"]) + sum(res["arrow_insert"]) / len(res["arrow_insert"])
    print(f"| path ({args.profile}, {per * 512} spans/insert) | CPU us/span (runs) | ratio to current path |")
    print("|---|---|---|")
    for k, v in res.items():
        print(f"| {k} | " + " ".join(f"{x:.1f}" for x in v) + f" | {sum(v) / len(v) / base:.2f} |")
    print(f"| current path = prepare + arrow insert | {base:.1f} | 1.00 |")
    eng = client.query("SELECT count() FROM spans_eng").result_rows[0][0]
    arrow = client.query("SELECT count() FROM spans").result_rows[0][0]
    print(f"rows: {eng} (engine) / {arrow} (arrow)")
    client.close()


if __name__ == "__main__":
    main()
