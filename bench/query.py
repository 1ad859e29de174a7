"""Query benchmark: the API's reads over millions of spans.

    python -m bench.query [--spans 10000000] [--repeats 7] [--json]

1. `python -m collector migrate` on a fresh data dir (ClickHouse schema and
   the SQLite metadata DB).
2. In a child process that owns the chDB directory alone: generate the spans
   INSIDE the engine (`INSERT INTO spans ... SELECT ... FROM numbers(N)`):
   10 projects (30 % "default"), 50 services, 20 models (2 unpriced), 100k
   users, 1M sessions, 3 spans per trace (agent root -> LLM call -> LLM call,
   tool or retriever) so N/3 traces, spread over the last 30 days, messages
   as semconv JSON from a 512-word vocabulary, Decimal costs, counts_usage = 1
   on LLM spans.  Then OPTIMIZE FINAL (a steady state after merges; skip with
   --no-optimize), EXPLAIN of the slow queries' index use, and the same SQL
   the API runs (storage/clickhouse/queries.py), timed directly through
   clickhouse-connect: the engine's share of each API figure.  Every handle
   is closed and the child exits.
3. `python -m collector up` on that directory; the default project's key is
   read from <data_dir>/default-api-key.
4. Each query through the HTTP API (httpx, keep-alive): one warm-up call, then
   --repeats timed calls; median / min / max.  The trace lookup uses a
   different trace id on every call.  Baseline: GET /healthz (no engine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/query.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import httpx

from bench._common import (
    RssSampler,
    bench_child_cwd,
    crash_report,
    dir_size,
    machine_busy_seconds,
    machine_info,
    run_migrate,
    server_env,
    server_root,
    start_server,
    table,
    tree_cpu_seconds,
    write_json,
)

DAY_NS = 86_400 * 10**9

# (model, provider, input $/Mtok, output $/Mtok, share); price None = unpriced
MODELS: list[tuple[str, str, float | None, float | None, int]] = [
    ("gpt-4o", "openai", 2.5, 10.0, 18),
    ("gpt-4o-mini", "openai", 0.15, 0.6, 20),
    ("gpt-4.1", "openai", 2.0, 8.0, 6),
    ("gpt-4.1-mini", "openai", 0.4, 1.6, 6),
    ("o3-mini", "openai", 1.1, 4.4, 3),
    ("claude-3-5-sonnet-20241022", "anthropic", 3.0, 15.0, 10),
    ("claude-3-5-haiku-20241022", "anthropic", 0.8, 4.0, 5),
    ("claude-3-7-sonnet-20250219", "anthropic", 3.0, 15.0, 4),
    ("claude-sonnet-4-20250514", "anthropic", 3.0, 15.0, 4),
    ("gemini-2.0-flash", "google", 0.1, 0.4, 8),
    ("gemini-1.5-pro", "google", 1.25, 5.0, 2),
    ("gemini-2.5-pro", "google", 1.25, 10.0, 2),
    ("mistral-large-latest", "mistral", 2.0, 6.0, 2),
    ("llama-3.1-70b-instruct", "groq", 0.59, 0.79, 2),
    ("deepseek-chat", "deepseek", 0.27, 1.1, 2),
    ("command-r-plus", "cohere", 2.5, 10.0, 1),
    ("grok-2", "x-ai", 2.0, 10.0, 1),
    ("gpt-3.5-turbo", "openai", 0.5, 1.5, 2),
    ("acme-chat-7b", "acme", None, None, 1),
    ("internal-ft-v3", "vllm", None, None, 1),
]
VOCAB_SIZE = 512


def _sql_array(values: list[Any]) -> str:
    return "[" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + "]"


def generation_sql(n_spans: int, now_ns: int) -> str:
    """One INSERT ... SELECT that writes n_spans rows into `spans`.

    Per trace t = intDiv(number, 3): project, service, user, session, dialect,
    start time; per span p = number % 3: 0 = agent root, 1 = LLM call, 2 = LLM
    call (60 %), tool (25 %) or retriever (15 %).
    """
    # model picked by weight: a cumulative table over 0..99
    cum: list[int] = []
    acc = 0
    for m in MODELS:
        acc += m[4]
        cum.append(acc)
    total_w = acc
    names = _sql_array([m[0] for m in MODELS])
    provs = _sql_array([m[1] for m in MODELS])
    p_in = _sql_array([m[2] if m[2] is not None else 0 for m in MODELS])
    p_out = _sql_array([m[3] if m[3] is not None else 0 for m in MODELS])
    priced = _sql_array([1 if m[2] is not None else 0 for m in MODELS])
    cum_sql = _sql_array(cum)
    # a 512-word vocabulary, repeated words from a fixed list
    words = ["the", "a", "of", "to", "and", "in", "for", "on", "with", "is", "was", "are", "be", "this", "that", "it", "not", "or", "have", "customer", "order", "invoice", "refund", "shipping", "account", "password", "reset", "billing", "plan", "upgrade", "cancel", "error", "timeout", "latency", "database", "query", "index", "table", "column", "row", "cluster", "node", "replica", "function", "method", "class", "module", "import", "return", "value", "string", "number", "list", "object", "json", "schema", "please", "could", "would", "should", "thanks", "hello", "sorry", "issue", "problem", "question", "answer", "help", "explain", "summary", "document", "section", "paragraph", "page", "title", "author", "date", "version", "release", "note", "weather", "forecast", "price", "cost", "tokens", "model", "prompt", "reply", "search", "result", "source", "reference", "link", "context", "retrieval", "embedding", "vector", "score", "rank", "user", "session", "trace", "span", "event", "metric", "log", "alert", "dashboard", "chart", "report", "export"]  # fmt: skip
    vocab = [f"{words[i % len(words)]}{'' if i < len(words) else i // len(words)}" for i in range(VOCAB_SIZE)]
    vocab_sql = _sql_array(vocab)
    window = 30 * DAY_NS
    text = (
        "arrayStringConcat(arrayMap(j -> vocab[(intHash64(number * 1009 + j + {salt}) % 512) + 1], "
        "range(toUInt32({n}))), ' ')"
    )
    return f"""
INSERT INTO spans (
    project_id, start_time, end_time, duration_ns, trace_id, span_id, parent_span_id, name, kind,
    status_code, status_message, error_type, service_name, scope_name, scope_version, dialect, span_type,
    operation, provider, request_model, response_model, model, counts_usage,
    sent_input_tokens, sent_output_tokens, sent_total_tokens,
    uncached_input_tokens, cache_read_tokens, output_text_tokens, ttft_ns, temperature, max_tokens, stream,
    finish_reasons, response_id, session_id, user_id, tool_name, agent_name,
    input_messages, output_messages, system_instructions, documents,
    cost_input, cost_cache_read, cost_output, cost_total, price_status, price_source, price_version,
    resource_attributes, span_attributes, retention_days, ingested_at, version)
WITH
    {vocab_sql} AS vocab,
    {names} AS model_names, {provs} AS model_providers, {p_in} AS price_in, {p_out} AS price_out,
    {priced} AS model_priced, {cum_sql} AS model_cum,
    ['otel_genai', 'openllmetry', 'openinference', 'vercel_ai'] AS dialects,
    intDiv(number, 3) AS t,
    number % 3 AS p,
    intHash64(t) AS th,
    intHash64(number + 0x9e3779b9) AS sh,
    if(th % 100 < 30, 'default', concat('proj-', toString(th % 9 + 1))) AS proj,
    toInt64({now_ns}) - toInt64(intHash64(t * 7 + 1) % {window}) AS trace_start_ns,
    (sh % 100) AS kind_roll,
    multiIf(p = 0, 'agent', p = 1, 'llm', kind_roll < 60, 'llm', kind_roll < 85, 'tool', 'retriever') AS stype,
    arrayFirstIndex(c -> c > (sh % {total_w}), model_cum) AS mi,
    stype = 'llm' AS is_llm,
    100 + (sh % 3000) AS in_tok,
    20 + (intHash64(number * 3 + 2) % 700) AS out_tok,
    if(sh % 5 = 0, intDiv(in_tok, 128) * 64, 0) AS cache_tok,
    multiIf(is_llm, 250000000 + (intHash64(number * 5) % 6000000000),
            stype = 'tool', 5000000 + (intHash64(number * 5) % 400000000),
            stype = 'retriever', 20000000 + (intHash64(number * 5) % 300000000),
            0) AS child_dur,
    if(p = 0, 6000000000 + (th % 9000000000), child_dur) AS dur,
    trace_start_ns + if(p = 0, 0, toInt64(p) * 1000000) AS s_ns,
    model_priced[mi] = 1 AS has_price,
    toDecimal64(in_tok - cache_tok, 0) * toDecimal64(price_in[mi], 12) / 1000000 AS c_in,
    toDecimal64(cache_tok, 0) * toDecimal64(price_in[mi] / 10, 12) / 1000000 AS c_cr,
    toDecimal64(out_tok, 0) * toDecimal64(price_out[mi], 12) / 1000000 AS c_out
SELECT
    proj,
    fromUnixTimestamp64Nano(s_ns, 'UTC'),
    fromUnixTimestamp64Nano(s_ns + toInt64(dur), 'UTC'),
    dur,
    lower(hex(sipHash128(t))),
    leftPad(lower(hex(intHash64(number * 2654435761 + 17))), 16, '0'),
    if(p = 0, '', leftPad(lower(hex(intHash64(t * 3 * 2654435761 + 17))), 16, '0')),
    multiIf(stype = 'agent', concat('invoke_agent svc-', toString(th % 50)), is_llm, concat('chat ', model_names[mi]),
            stype = 'tool', 'execute_tool search_docs', 'retrieval kb'),
    if(is_llm, 3, 1),
    if(sh % 50 = 0, 2, 0),
    if(sh % 50 = 0, 'upstream returned 500', ''),
    if(sh % 50 = 0, 'APIError', ''),
    concat('svc-', leftPad(toString(th % 50), 2, '0')),
    'opentelemetry.instrumentation.genai', '1.0.0',
    dialects[(th % 4) + 1],
    stype,
    multiIf(stype = 'agent', 'invoke_agent', is_llm, 'chat', stype = 'tool', 'execute_tool', 'retrieval'),
    if(is_llm, model_providers[mi], ''),
    if(is_llm, model_names[mi], ''),
    if(is_llm, model_names[mi], ''),
    if(is_llm, model_names[mi], ''),
    toUInt8(is_llm),
    if(is_llm, toNullable(toUInt64(in_tok)), NULL),
    if(is_llm, toNullable(toUInt64(out_tok)), NULL),
    if(is_llm, toNullable(toUInt64(in_tok + out_tok)), NULL),
    if(is_llm, in_tok - cache_tok, 0),
    if(is_llm, cache_tok, 0),
    if(is_llm, out_tok, 0),
    if(is_llm AND sh % 3 = 0, toNullable(toUInt64(dur / 4)), NULL),
    if(is_llm, toNullable(toFloat64((sh % 4) / 4)), NULL),
    if(is_llm, toNullable(toUInt64(1024)), NULL),
    if(is_llm, toNullable(toUInt8(sh % 3 = 0)), NULL),
    if(is_llm, ['stop'], []),
    if(is_llm, concat('resp_', hex(sh)), ''),
    concat('sess-', toString(intHash64(t * 11 + 5) % 1000000)),
    concat('user-', toString(th % 100000)),
    if(stype = 'tool', 'search_docs', ''),
    if(stype = 'agent', concat('agent-', toString(th % 50)), ''),
    if(is_llm OR p = 0,
       concat('[{{"role":"user","parts":[{{"type":"text","content":"',
              {text.format(salt=1, n="20 + sh % 200")}, '"}}]}}]'), ''),
    if(is_llm OR p = 0,
       concat('[{{"role":"assistant","parts":[{{"type":"text","content":"',
              {text.format(salt=2, n="10 + intHash64(number) % 150")}, '"}}],"finish_reason":"stop"}}]'), ''),
    if(is_llm, concat('[{{"type":"text","content":"You are a helpful assistant for svc-', toString(th % 50), '."}}]'), ''),
    if(stype = 'retriever', concat('[{{"id":"doc-', toString(sh % 50000), '","content":"',
              {text.format(salt=3, n="30 + sh % 60")}, '"}}]'), ''),
    if(is_llm AND has_price, toNullable(c_in), NULL),
    if(is_llm AND has_price, toNullable(c_cr), NULL),
    if(is_llm AND has_price, toNullable(c_out), NULL),
    if(is_llm AND has_price, toNullable(c_in + c_cr + c_out), NULL),
    multiIf(NOT is_llm, 'not_llm', has_price, 'priced', 'unknown_model'),
    if(is_llm AND has_price, 'genai-prices', ''),
    if(is_llm AND has_price, 'genai-prices/bench', ''),
    map('service.name', concat('svc-', leftPad(toString(th % 50), 2, '0')), 'deployment.environment.name', 'production',
        'telemetry.sdk.language', 'python'),
    if(is_llm, map('gen_ai.operation.name', 'chat', 'gen_ai.request.model', model_names[mi],
                   'gen_ai.usage.input_tokens', toString(in_tok), 'gen_ai.usage.output_tokens', toString(out_tok)),
       map('gen_ai.operation.name', stype)),
    365,
    now64(6),
    1
FROM numbers({n_spans})
"""


# ---- the generator child (owns the chDB directory) -----------------------------------------


def _time(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def generate_child(data_dir: Path, n_spans: int, optimize: bool, repeats: int) -> dict[str, Any]:
    """Runs in its own process: generate, inspect, time the SQL directly, close."""
    import clickhouse_connect

    from storage.clickhouse.queries import Queries, SpanFilter

    out: dict[str, Any] = {}
    client = clickhouse_connect.get_client(dsn=f"chdb://{data_dir / 'clickhouse'}")
    try:
        now_ns = time.time_ns()
        t0 = time.perf_counter()
        # the engine inserts in blocks of max_insert_block_size rows; one part per day per block
        client.command(
            generation_sql(n_spans, now_ns),
            settings={"max_partitions_per_insert_block": 1000, "max_insert_threads": 2, "max_threads": 2},
        )
        out["generate_s"] = time.perf_counter() - t0
        out["now_ns"] = now_ns
        out["parts_after_insert"] = int(client.command("SELECT count() FROM system.parts WHERE table = 'spans' AND active"))
        if optimize:
            t0 = time.perf_counter()
            client.command("OPTIMIZE TABLE spans FINAL")
            out["optimize_s"] = time.perf_counter() - t0
        # The server keeps exact per-minute usage rollups by re-aggregating the
        # minutes its writer touched; rows written here bypass the writer, so
        # re-aggregate the whole window once with the server's own code.
        try:
            from storage.clickhouse.rollups import Rollups
            from storage.clickhouse.tables import Tables
        except ImportError:  # a server tree without rollups
            Rollups = None  # type: ignore[assignment,misc]
        if Rollups is not None:
            t0 = time.perf_counter()
            ru = Rollups(lambda: clickhouse_connect.get_client(dsn=f"chdb://{data_dir / 'clickhouse'}"), Tables())
            projects = [r[0] for r in client.query("SELECT DISTINCT project_id FROM spans").result_rows]
            for proj in projects:
                for d in range(32):  # a day per range: bounded memory per INSERT ... SELECT
                    lo = now_ns - (32 - d) * DAY_NS
                    ru.mark(proj, lo, lo + DAY_NS)
            ru.refresh()
            ru.close()
            out["rollup_backfill_s"] = time.perf_counter() - t0
        row = client.query(
            "SELECT count(), sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) FROM system.parts "
            "WHERE table = 'spans' AND active"
        ).result_rows[0]
        out["parts"], out["rows"], out["bytes_on_disk"], out["bytes_uncompressed"] = (int(x) for x in row)
        out["columns_on_disk"] = [
            (r[0], int(r[1]), int(r[2]))
            for r in client.query(
                "SELECT column, sum(column_data_compressed_bytes) AS c, sum(column_data_uncompressed_bytes) "
                "FROM system.parts_columns WHERE table = 'spans' AND active GROUP BY column ORDER BY c DESC LIMIT 8"
            ).result_rows
        ]
        out["counts"] = dict(
            zip(
                ("spans", "default_spans", "traces", "users", "sessions", "models", "services", "projects", "llm_calls"),
                (int(x) for x in client.query(
                    "SELECT count(), countIf(project_id = 'default'), uniq(trace_id), uniq(user_id), uniq(session_id), "
                    "uniq(model), uniq(service_name), uniq(project_id), countIf(counts_usage = 1) FROM spans"
                ).result_rows[0]),
            )
        )  # fmt: skip
        # trace ids of the default project for the lookups (spread over the 30 days)
        out["trace_ids"] = [
            r[0]
            for r in client.query(
                "SELECT toString(trace_id) FROM spans WHERE project_id = 'default' AND parent_span_id = '' "
                "ORDER BY cityHash64(trace_id) LIMIT 200"
            ).result_rows
        ]
        out["user_ids"] = [r[0] for r in client.query(
            "SELECT DISTINCT user_id FROM spans WHERE project_id = 'default' ORDER BY cityHash64(user_id) LIMIT 20"
        ).result_rows]  # fmt: skip

        # ---- the API's SQL, directly (engine share of each API figure) ----
        q = Queries(client)
        end = now_ns + 60 * 10**9
        f30 = SpanFilter("default", end - 30 * DAY_NS, end)
        f7 = SpanFilter("default", end - 7 * DAY_NS, end)
        f1 = SpanFilter("default", end - DAY_NS, end)
        ids = iter(out["trace_ids"])
        usage30 = (
            (lambda: q.usage_from_rollup(f30, bucket="day", group_by="model", pending=[]))
            if hasattr(q, "usage_from_rollup") else (lambda: q.usage(f30, bucket="day", group_by="model"))
        )  # fmt: skip
        direct: dict[str, Any] = {
            "cost by model by day, 30 d": usage30,
            "trace by id": lambda: q.trace("default", next(ids)),
            "latency p50/p95/p99 by model, 7 d": lambda: q.latency(f7, group_by="model"),
            "cost by user by day, 30 d": lambda: q.usage(f30, bucket="day", group_by="user"),
            "trace search, 24 h, limit 50": lambda: q.search_traces(f1, limit=50),
        }
        if hasattr(q, "top"):  # a server tree with GET /usage/top
            direct["top 20 users by cost, 30 d"] = lambda: q.top(f30, group_by="user", limit=20)
        timings: dict[str, list[float]] = {}
        for name, fn in direct.items():
            fn()  # warm
            timings[name] = _time(fn, repeats)
        out["direct_ms"] = timings
        # EXPLAIN: which parts/granules the slow reads touch
        tid = out["trace_ids"][-1]
        tstart = client.query(
            "SELECT toUnixTimestamp64Nano(min(start_time)) FROM spans WHERE project_id = 'default' AND trace_id = %(t)s",
            parameters={"t": tid},
        ).result_rows[0][0]
        explains = {
            "trace by id, with the +-1 h window trace_index gives": (
                "EXPLAIN indexes = 1 SELECT * FROM spans FINAL WHERE project_id = 'default' AND trace_id = '%s' "
                "AND start_time >= fromUnixTimestamp64Nano(%d) AND start_time <= fromUnixTimestamp64Nano(%d)"
                % (tid, tstart - 3600 * 10**9, tstart + 3600 * 10**9)
            ),
            "trace by id": (
                "EXPLAIN indexes = 1 SELECT * FROM spans FINAL WHERE project_id = 'default' AND trace_id = '%s'" % tid
            ),
            "cost by model by day, 30 d": (
                "EXPLAIN indexes = 1 SELECT toStartOfDay(start_time) d, model, sum(cost_total) FROM spans FINAL "
                "WHERE project_id = 'default' AND start_time >= fromUnixTimestamp64Nano(%d) AND start_time < "
                "fromUnixTimestamp64Nano(%d) AND span_type IN ('llm','embedding') AND counts_usage = 1 GROUP BY d, model"
                % (end - 30 * DAY_NS, end)
            ),
        }
        out["explain"] = {k: "\n".join(r[0] for r in client.query(v).result_rows) for k, v in explains.items()}
        # the same reads with what a fix would change, for the report.  Trace
        # variants fetch every column of the trace (as q.trace does), each
        # repeat with another trace id (the query condition cache is per query).
        pool = out["trace_ids"][100:]
        starts = dict(client.query(
            "SELECT toString(trace_id), toUnixTimestamp64Nano(min(start_time)) FROM spans WHERE project_id = 'default' "
            "AND trace_id IN %(ids)s GROUP BY trace_id", parameters={"ids": pool},
        ).result_rows)  # fmt: skip
        it = iter(pool * 3)
        tr = "SELECT * FROM spans {final} WHERE project_id = 'default' AND trace_id = {{tid:String}}{window} ORDER BY start_time{settings}"
        win = (" AND start_time >= fromUnixTimestamp64Nano({lo:Int64}) AND start_time < fromUnixTimestamp64Nano({hi:Int64})")
        nm = " SETTINGS do_not_merge_across_partitions_select_final = 1"

        def trace_q(final: str, window: str, settings: str):  # type: ignore[no-untyped-def]
            sql = tr.format(final=final, window=window, settings=settings)

            def run() -> None:
                tid = next(it)
                st = int(starts.get(tid, now_ns))
                client.query(sql, parameters={"tid": tid, "lo": st - 3600 * 10**9, "hi": st + 3600 * 10**9},
                             query_formats={"FixedString": "string"})  # fmt: skip

            return run

        cost = (
            "SELECT toStartOfDay(start_time) d, model, sum(cost_total) FROM spans {final} WHERE project_id = 'default' "
            "AND start_time >= fromUnixTimestamp64Nano(%d) AND counts_usage = 1 AND span_type IN ('llm','embedding') "
            "GROUP BY d, model{settings}" % (end - 30 * DAY_NS)
        )
        variants = {
            "trace by id, SELECT * FINAL (as the API)": trace_q("FINAL", "", ""),
            "trace by id, SELECT * without FINAL": trace_q("", "", ""),
            "trace by id, FINAL + do_not_merge_across_partitions_select_final": trace_q("FINAL", "", nm),
            "trace by id, FINAL + start_time +-1 h known (a trace-index table's answer)": trace_q("FINAL", win, ""),
            "trace by id, same + do_not_merge_across_partitions_select_final": trace_q("FINAL", win, nm),
            "cost by model by day, raw spans, no FINAL": lambda: client.query(cost.format(final="", settings="")),
            "cost by model by day, raw spans, FINAL": lambda: client.query(cost.format(final="FINAL", settings="")),
            "cost by model by day, raw spans, FINAL + do_not_merge...": lambda: client.query(cost.format(final="FINAL", settings=nm)),
        }
        vt: dict[str, list[float]] = {}
        for name, fn in variants.items():
            fn()
            vt[name] = _time(fn, repeats)
        out["variants_ms"] = vt
    finally:
        client.close()
    return out


# ---- the API side ----------------------------------------------------------------------------


@dataclass
class QueryTiming:
    name: str
    path: str
    ms: list[float] = field(default_factory=list)
    response_bytes: int = 0
    items: int | None = None
    status: int = 200
    target_ms: float | None = None
    direct_ms: list[float] | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")


def time_api(srv_api: str, key: str, info: dict[str, Any], repeats: int) -> list[QueryTiming]:
    now_ns = info["now_ns"]
    end = now_ns + 60 * 10**9
    s30, s7 = end - 30 * DAY_NS, end - 7 * DAY_NS
    trace_ids = list(info["trace_ids"])
    plan: list[tuple[QueryTiming, Any]] = [
        (QueryTiming("GET /healthz (baseline)", "/healthz"), lambda: "/healthz"),
        (QueryTiming("cost by model by day, 30 d", "/api/v1/usage?bucket=day&group_by=model", target_ms=300),
         lambda: f"/api/v1/usage?bucket=day&group_by=model&start={s30}&end={end}"),
        (QueryTiming("trace by id", "/api/v1/traces/{id}", target_ms=50), lambda: f"/api/v1/traces/{trace_ids.pop()}"),
        (QueryTiming("latency p50/p95/p99 by model, 7 d", "/api/v1/latency?group_by=model"),
         lambda: f"/api/v1/latency?group_by=model&start={s7}&end={end}"),
        (QueryTiming("top 20 users by cost, 30 d", "/api/v1/usage/top?group_by=user&limit=20"),
         lambda: f"/api/v1/usage/top?group_by=user&limit=20&start={s30}&end={end}"),
        # every (day, user) pair: what "top users" cost before /usage/top (the client sorted this)
        (QueryTiming("cost by user by day, 30 d", "/api/v1/usage?bucket=day&group_by=user"),
         lambda: f"/api/v1/usage?bucket=day&group_by=user&start={s30}&end={end}"),
        (QueryTiming("trace search, 24 h, limit 50", "/api/v1/traces?limit=50"), lambda: "/api/v1/traces?limit=50"),
    ]  # fmt: skip
    direct = info.get("direct_ms", {})
    out = []
    with httpx.Client(base_url=srv_api, headers={"Authorization": f"Bearer {key}"}, timeout=600) as c:
        for qt, url in plan:
            r = c.get(url())  # warm-up
            qt.status = r.status_code
            for _ in range(repeats):
                u = url()
                t0 = time.perf_counter()
                r = c.get(u)
                body = r.content
                qt.ms.append((time.perf_counter() - t0) * 1000)
                qt.status = r.status_code
                qt.response_bytes = len(body)
            try:
                doc = r.json()
                qt.items = doc.get("span_count") if "span_count" in doc else len(doc.get("items", [])) if "items" in doc else None
            except ValueError:
                pass
            qt.direct_ms = direct.get(qt.name)
            out.append(qt)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=10_000_000, help="spans to generate (default 10M; 1000000 for a quick run)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-optimize", action="store_true", help="skip OPTIMIZE FINAL after generation")
    ap.add_argument("--keep", action="store_true", help="keep the data dir")
    ap.add_argument("--json", action="store_true", help="also write bench/results/query-<time>.json")
    ap.add_argument("--generate-only", help=argparse.SUPPRESS)  # child mode: data dir
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.generate_only:
        res = generate_child(Path(args.generate_only), args.spans, not args.no_optimize, args.repeats)
        print(json.dumps(res))
        return 0

    info = machine_info()
    work = Path(tempfile.mkdtemp(prefix="llmobs-bench-query-"))
    data_dir = work / "data"
    print(f"server source tree: {server_root()}")
    print(f"machine: {info['cpus']} cores ({info['cpu_model']}), {info['mem_gib']} GiB, load {info['loadavg_at_start']}")
    print(f"migrating {data_dir} ...", flush=True)
    run_migrate(data_dir)
    print(f"generating {args.spans:,} spans inside the engine (child process) ...", flush=True)
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "bench.query", "--generate-only", str(data_dir), "--spans", str(args.spans),
         "--repeats", str(args.repeats), *(["--no-optimize"] if args.no_optimize else [])],
        cwd=bench_child_cwd(), env=server_env(data_dir), capture_output=True, text=True,
    )  # fmt: skip
    child_s = time.perf_counter() - t0
    if r.returncode != 0:
        print(r.stdout[-3000:], r.stderr[-5000:], file=sys.stderr)
        return 1
    gen = json.loads(r.stdout.strip().splitlines()[-1])
    disk_after_child = dir_size(data_dir / "clickhouse")
    print(
        f"  generated in {gen['generate_s']:.1f} s ({gen['parts_after_insert']} parts), "
        + (f"OPTIMIZE FINAL {gen['optimize_s']:.1f} s, " if "optimize_s" in gen else "")
        + (f"rollup backfill {gen['rollup_backfill_s']:.1f} s, " if "rollup_backfill_s" in gen else "")
        + f"{gen['parts']} active parts, {gen['bytes_on_disk'] / 2**20:,.0f} MiB active on disk "
        f"({gen['bytes_on_disk'] / gen['rows']:.0f} B/span; {gen['bytes_uncompressed'] / 2**20:,.0f} MiB uncompressed); "
        f"directory {disk_after_child / 2**20:,.0f} MiB; child process {child_s:.1f} s"
    )
    print(f"  counts: {gen['counts']}", flush=True)

    print("starting llmobs on that directory ...", flush=True)
    t0 = time.perf_counter()
    srv = start_server(data_dir)
    start_s = time.perf_counter() - t0
    if not srv.key:
        print("no default-api-key written by the server", file=sys.stderr)
        srv.stop()
        return 1
    load_before = os.getloadavg()
    busy0, srv0, t_api0 = machine_busy_seconds(), tree_cpu_seconds(srv.pid), time.perf_counter()
    try:
        with RssSampler(srv.pid, 0.1) as rss:
            timings = time_api(srv.api, srv.key, gen, args.repeats)
        rss_peak = rss.peak
        api_s = time.perf_counter() - t_api0
        srv_cores = (tree_cpu_seconds(srv.pid) - srv0) / api_s
        other_cores = (machine_busy_seconds() - busy0) / api_s - srv_cores
    except Exception:
        if srv.proc is not None and srv.proc.poll() is not None:
            print(f"the server died during the API timings:\n{crash_report(srv)}", file=sys.stderr)
        raise
    finally:
        rc = srv.stop()
    if rc not in (0, -15):
        print(f"server exited with {rc} at shutdown:\n{crash_report(srv)}", file=sys.stderr)

    base = timings[0].median
    rows = []
    for qt in timings:
        verdict = "-" if qt.target_ms is None else ("ok" if qt.median < qt.target_ms else "MISS")
        if qt.status != 200:
            verdict = f"HTTP {qt.status}"
        rows.append([
            qt.name, qt.median, min(qt.ms), max(qt.ms), f"{qt.median / base:,.1f}",
            statistics.median(qt.direct_ms) if qt.direct_ms else "-",
            f"{qt.response_bytes / 1024:,.1f}", "-" if qt.items is None else str(qt.items),
            "-" if qt.target_ms is None else f"< {qt.target_ms:.0f}", verdict,
        ])  # fmt: skip
    c = gen["counts"]
    print()
    print(f"Queries over {c['spans']:,} spans ({c['default_spans']:,} in project 'default'; {c['traces']:,} traces, "
          f"{c['users']:,} users, {c['sessions']:,} sessions, {c['models']} models, {c['services']} services, "
          f"{c['projects']} projects), through the HTTP API, warm, {args.repeats} repeats")  # fmt: skip
    print(table(
        ["query", "median ms", "min ms", "max ms", "x healthz", "engine-direct median ms", "response KiB", "items",
         "target ms", "verdict"],
        rows,
    ))  # fmt: skip
    print()
    print(table(
        ["variant (direct SQL, before the server started)", "median ms", "min ms", "max ms"],
        [[k, statistics.median(v), min(v), max(v)] for k, v in gen["variants_ms"].items()],
    ))  # fmt: skip
    print()
    print(f"generation (INSERT ... SELECT FROM numbers) {gen['generate_s']:.1f} s = {c['spans'] / gen['generate_s']:,.0f} spans/s"
          + (f"; OPTIMIZE FINAL {gen['optimize_s']:.1f} s" if "optimize_s" in gen else ""))  # fmt: skip
    print(f"on disk: {gen['bytes_on_disk'] / 2**20:,.0f} MiB in {gen['parts']} active parts "
          f"({gen['bytes_on_disk'] / c['spans']:.0f} B/span), {gen['bytes_uncompressed'] / 2**20:,.0f} MiB uncompressed; "
          f"directory {disk_after_child / 2**20:,.0f} MiB")  # fmt: skip
    print("largest columns (compressed / uncompressed MiB): "
          + ", ".join(f"{n} {cb / 2**20:,.0f}/{ub / 2**20:,.0f}" for n, cb, ub in gen["columns_on_disk"]))  # fmt: skip
    print(f"server start on the generated directory: {start_s:.1f} s; server RSS peak during the queries: {rss_peak / 2**20:,.0f} MiB")
    print(f"during the API timings ({api_s:.1f} s): server {srv_cores:.2f} cores, everything else on the machine "
          f"{other_cores:.2f} cores (includes this client); loadavg before {' '.join(f'{x:.1f}' for x in load_before)}")  # fmt: skip
    print("\nEXPLAIN indexes = 1 (before the server started):")
    for k, v in gen["explain"].items():
        print(f"--- {k}\n{v}")
    if args.json:
        path = write_json("query", {
            "machine": info, "args": vars(args), "generation": {k: v for k, v in gen.items() if k not in ("trace_ids",)},
            "server_start_s": start_s, "server_rss_peak_bytes": rss_peak, "timings": [asdict(t) for t in timings],
        })  # fmt: skip
        print(f"results: {path}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
