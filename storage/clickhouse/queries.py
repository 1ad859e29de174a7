"""Every read the API makes, as parameterised SQL over the spans table.

Exactness first: reads use FINAL, so a retried export (two physical rows for
one span until the next merge) is counted once; usage and cost sum only spans
with `counts_usage = 1`, so a call traced by several layers is counted once.
Every query is scoped by project id; callers cannot omit it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from storage.clickhouse.rollups import MINUTE_NS, ROLLUP_DIMENSIONS
from storage.clickhouse.tables import Tables

FORMATS = {"FixedString": "string"}
# Output names reuse column names (sum(cost_total) AS cost_total); make column
# references inside expressions mean the column, not the alias.
# FINAL need not merge across partitions: a span's partition is fixed by its
# dedup key (the day of its start time), so every copy of a span - a retry, a
# reprice rewrite - lands in the same partition.  This halves FINAL reads and
# lets a one-trace lookup touch only its own day.
SETTINGS = {"prefer_column_name_to_alias": 1, "do_not_merge_across_partitions_select_final": 1}
LLM_CALL = "span_type IN ('llm', 'embedding') AND counts_usage = 1"

GROUPABLE = {
    "model": "model",
    "provider": "provider",
    "service": "service_name",
    "user": "user_id",
    "session": "session_id",
    "span_type": "span_type",
    "operation": "operation",
    "status": "if(status_code = 2, 'error', 'ok')",
}
BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
_ATTR_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,200}$")


class QueryError(ValueError):
    """A request the query layer cannot express (unknown group, bad key)."""


@dataclass(slots=True)
class SpanFilter:
    project_id: str
    start_ns: int
    end_ns: int
    service: str | None = None
    model: str | None = None
    provider: str | None = None
    span_type: str | None = None
    status: str | None = None  # "ok" | "error"
    user_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    text: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses = [
            "project_id = {project:String}",
            "start_time >= fromUnixTimestamp64Nano({start_ns:Int64})",
            "start_time < fromUnixTimestamp64Nano({end_ns:Int64})",
        ]
        params: dict[str, Any] = {"project": self.project_id, "start_ns": self.start_ns, "end_ns": self.end_ns}
        simple = {
            "service_name": self.service,
            "model": self.model,
            "provider": self.provider,
            "span_type": self.span_type,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "trace_id": self.trace_id,
        }
        for col, value in simple.items():
            if value:
                clauses.append(f"{col} = {{{col}:String}}")
                params[col] = value
        if self.status == "error":
            clauses.append("status_code = 2")
        elif self.status == "ok":
            clauses.append("status_code != 2")
        elif self.status:
            raise QueryError("status must be 'ok' or 'error'")
        for i, (key, value) in enumerate(sorted(self.attributes.items())):
            if not _ATTR_KEY.match(key):
                raise QueryError(f"invalid attribute key {key!r}")
            clauses.append(
                f"(span_attributes[{{ak{i}:String}}] = {{av{i}:String}} OR resource_attributes[{{ak{i}:String}}] = {{av{i}:String}})"
            )
            params[f"ak{i}"] = key
            params[f"av{i}"] = value
        if self.text:
            clauses.append(
                "(positionCaseInsensitiveUTF8(input_messages, {text:String}) > 0"
                " OR positionCaseInsensitiveUTF8(output_messages, {text:String}) > 0"
                " OR positionCaseInsensitiveUTF8(system_instructions, {text:String}) > 0)"
            )
            params["text"] = self.text
        return " AND ".join(clauses), params


def group_expr(group_by: str | None) -> str:
    if not group_by:
        return "''"
    if group_by in GROUPABLE:
        return GROUPABLE[group_by]
    if group_by.startswith("attr:"):
        key = group_by[5:]
        if not _ATTR_KEY.match(key):
            raise QueryError(f"invalid attribute key {key!r}")
        escaped = key.replace("\\", "\\\\").replace("'", "\\'")
        return f"if(mapContains(span_attributes, '{escaped}'), span_attributes['{escaped}'], resource_attributes['{escaped}'])"
    raise QueryError(f"cannot group by {group_by!r}: use one of {sorted(GROUPABLE)} or attr:<key>")



def trace_list_sql(spans: str, where: str, order_by: str) -> str:
    """One row per trace that has a span matching `where`: its time range,
    root name, span, LLM-call and error counts, tokens and cost of its
    usage-counting calls, user, session and models.  The whole trace is read
    (a day either side of the filter's range), not only the matching spans, so
    the totals are the trace's.  Needs the `where` parameters plus `limit` and
    `offset`; `order_by` is a trusted SQL expression (the newest list and the
    ranked lists differ only there)."""
    return f"""
        WITH matching AS (
            SELECT DISTINCT trace_id FROM {spans} FINAL WHERE {where}
        )
        SELECT toString(trace_id) AS trace_id,
               toUnixTimestamp64Nano(min(start_time)) AS start_ns,
               toUInt64(greatest(0, toUnixTimestamp64Nano(max(end_time)) - toUnixTimestamp64Nano(min(start_time)))) AS duration_ns,
               argMinIf(name, start_time, parent_span_id = '') AS root_name,
               any(service_name) AS service_name,
               count() AS span_count,
               countIf(status_code = 2) AS error_count,
               countIf({LLM_CALL}) AS llm_calls,
               sumIf(input_tokens, {LLM_CALL}) AS input_tokens,
               sumIf(output_tokens, {LLM_CALL}) AS output_tokens,
               sumIf(cost_total, {LLM_CALL}) AS cost_total,
               anyIf(user_id, user_id != '') AS user_id,
               anyIf(session_id, session_id != '') AS session_id,
               groupUniqArrayIf(model, model != '') AS models
        FROM {spans} FINAL
        WHERE project_id = {{project:String}}
          AND start_time >= fromUnixTimestamp64Nano({{start_ns:Int64}}) - INTERVAL 1 DAY
          AND start_time < fromUnixTimestamp64Nano({{end_ns:Int64}}) + INTERVAL 1 DAY
          AND trace_id IN (SELECT trace_id FROM matching)
        GROUP BY trace_id
        ORDER BY {order_by}
        LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}
    """

SPAN_LIST_COLUMNS = """
    toString(trace_id) AS trace_id, toString(span_id) AS span_id, parent_span_id, name, kind,
    toUnixTimestamp64Nano(start_time) AS start_ns, duration_ns, status_code, status_message,
    error_type, service_name, dialect, span_type, operation, provider, request_model,
    response_model, model, counts_usage, uncached_input_tokens, cache_read_tokens,
    cache_write_tokens, output_text_tokens, reasoning_tokens, input_tokens, output_tokens,
    ttft_ns, session_id, user_id, cost_total, price_status, content_kept
"""

SPAN_DETAIL_COLUMNS = SPAN_LIST_COLUMNS + """,
    toUnixTimestamp64Nano(end_time) AS end_ns, scope_name, scope_version,
    sent_input_tokens, sent_output_tokens, sent_cache_read_tokens, sent_cache_write_tokens,
    sent_reasoning_tokens, sent_total_tokens, temperature, max_tokens, top_p, seed, stream,
    finish_reasons, response_id, tool_name, agent_name, input_messages, output_messages,
    system_instructions, tool_definitions, documents, provider_cost, cost_input,
    cost_cache_read, cost_cache_write, cost_output, cost_reasoning, price_source,
    price_version, resource_attributes, span_attributes, events, links
"""


class Queries:
    def __init__(self, client: Client, tables: Tables = Tables()) -> None:
        self.client = client
        self.tables = tables
        self.spans = tables.spans
        self.events = tables.events

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        res = self.client.query(sql, parameters=params, query_formats=FORMATS, settings=SETTINGS)
        return [dict(zip(res.column_names, row)) for row in res.result_rows]

    def search_spans(self, f: SpanFilter, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        where, params = f.where()
        params.update(limit=limit, offset=offset)
        return self._rows(
            f"SELECT {SPAN_LIST_COLUMNS} FROM {self.spans} FINAL WHERE {where} "
            "ORDER BY start_time DESC, span_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
            params,
        )

    def search_traces(self, f: SpanFilter, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Traces with at least one span matching the filter, newest first."""
        where, params = f.where()
        params.update(limit=limit, offset=offset)
        return self._rows(trace_list_sql(self.spans, where, "start_ns DESC"), params)

    def trace_bounds(self, project_id: str, trace_id: str) -> tuple[int, int] | None:
        """(first start, last end) of a trace in ns, from trace_index."""
        row = self.client.query(
            "SELECT toUnixTimestamp64Nano(min(start_min)), toUnixTimestamp64Nano(max(end_max)), count() "
            f"FROM {self.tables.trace_index} WHERE project_id = {{project:String}} AND trace_id = {{trace_id:String}}",
            parameters={"project": project_id, "trace_id": trace_id},
        ).result_rows[0]
        return (int(row[0]), int(row[1])) if row[2] else None

    def trace(self, project_id: str, trace_id: str, bounds: tuple[int, int] | None = None) -> list[dict[str, Any]]:
        """One trace: its time range from trace_index first, so the spans
        table is read by primary key (project, hour) for just that range."""
        bounds = bounds or self.trace_bounds(project_id, trace_id)
        if bounds is None:
            return []
        return self._rows(
            f"SELECT {SPAN_DETAIL_COLUMNS} FROM {self.spans} FINAL "
            "WHERE project_id = {project:String} AND trace_id = {trace_id:String} "
            "AND start_time >= fromUnixTimestamp64Nano({lo:Int64}) AND start_time <= fromUnixTimestamp64Nano({hi:Int64}) "
            "ORDER BY start_time, span_id",
            {"project": project_id, "trace_id": trace_id, "lo": bounds[0], "hi": bounds[1]},
        )

    def trace_events(self, project_id: str, trace_id: str, lo_ns: int, hi_ns: int) -> list[dict[str, Any]]:
        """GenAI log events of a trace; events are looked for an hour either
        side of the trace's spans (an event is emitted with its span; the
        margin covers clock drift between separate exporters)."""
        return self._rows(
            f"SELECT span_id, toUnixTimestamp64Nano(time) AS time_ns, event_name, body, attributes "
            f"FROM {self.events} FINAL WHERE project_id = {{project:String}} AND trace_id = {{trace_id:String}} "
            "AND time >= fromUnixTimestamp64Nano({lo:Int64}) - INTERVAL 1 HOUR "
            "AND time <= fromUnixTimestamp64Nano({hi:Int64}) + INTERVAL 1 HOUR "
            "ORDER BY time, record_id",
            {"project": project_id, "trace_id": trace_id, "lo": lo_ns, "hi": hi_ns},
        )

    def usage(self, f: SpanFilter, *, bucket: str, group_by: str | None) -> list[dict[str, Any]]:
        if bucket not in BUCKETS:
            raise QueryError(f"bucket must be one of {sorted(BUCKETS)}")
        where, params = f.where()
        params["bucket"] = BUCKETS[bucket]
        return self._rows(
            f"""
            SELECT toUnixTimestamp(toStartOfInterval(start_time, toIntervalSecond({{bucket:UInt32}}))) AS bucket_start,
                   {group_expr(group_by)} AS group,
                   count() AS requests,
                   countIf(status_code = 2) AS errors,
                   sum(uncached_input_tokens) AS uncached_input_tokens,
                   sum(cache_read_tokens) AS cache_read_tokens,
                   sum(cache_write_tokens) AS cache_write_tokens,
                   sum(output_text_tokens) AS output_text_tokens,
                   sum(reasoning_tokens) AS reasoning_tokens,
                   sum(input_tokens) AS input_tokens,
                   sum(output_tokens) AS output_tokens,
                   sum(cost_total) AS cost_total,
                   sum(provider_cost) AS provider_cost,
                   countIf(cost_total IS NULL) AS unpriced
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL}
            GROUP BY bucket_start, group
            ORDER BY bucket_start, group
            """,
            params,
        )

    def rollup_eligible(self, f: SpanFilter, group_by: str | None) -> bool:
        """The minute rollup answers usage grouped by model, provider or
        service (or not grouped) with filters on those dimensions only."""
        return (group_by is None or group_by in ROLLUP_DIMENSIONS) and not (
            f.span_type or f.status or f.user_id or f.session_id or f.trace_id or f.attributes or f.text
        )

    def usage_from_rollup(
        self, f: SpanFilter, *, bucket: str, group_by: str | None, pending: list[tuple[int, int]]
    ) -> list[dict[str, Any]]:
        """Settled whole minutes from `usage_minute`; minutes still pending
        re-aggregation and the partial minutes at the range's edges from
        `spans`, so the answer is exact for any range."""
        if bucket not in BUCKETS:
            raise QueryError(f"bucket must be one of {sorted(BUCKETS)}")
        lo = -(-f.start_ns // MINUTE_NS) * MINUTE_NS  # first whole minute
        hi = f.end_ns // MINUTE_NS * MINUTE_NS  # end of the last whole minute
        from_spans: list[tuple[int, int]] = []
        if lo >= hi:
            lo = hi = f.start_ns
            from_spans.append((f.start_ns, f.end_ns))
        else:
            from_spans += [(f.start_ns, lo), (hi, f.end_ns)]
            from_spans += [(max(a, lo), min(b, hi)) for a, b in pending if a < hi and b > lo]
        from_spans = [(a, b) for a, b in from_spans if a < b]
        params: dict[str, Any] = {"project": f.project_id, "lo": lo, "hi": hi, "bucket": BUCKETS[bucket]}
        dims = []
        for name, value in (("service_name", f.service), ("model", f.model), ("provider", f.provider)):
            if value:
                dims.append(f"{name} = {{{name}:String}}")
                params[name] = value
        dim_sql = "".join(f" AND {d}" for d in dims)
        pend = []
        for i, (a, b) in enumerate(from_spans):
            params[f"pa{i}"], params[f"pb{i}"] = a, b
            pend.append(f"(start_time >= fromUnixTimestamp64Nano({{pa{i}:Int64}}) AND start_time < fromUnixTimestamp64Nano({{pb{i}:Int64}}))")
        not_pending = "".join(
            f" AND NOT (minute >= toDateTime(intDiv({{pa{i}:Int64}}, 1000000000)) AND minute < toDateTime(intDiv({{pb{i}:Int64}}, 1000000000)))"
            for i in range(len(from_spans))
        )
        group_col = ROLLUP_DIMENSIONS[group_by] if group_by else "''"
        parts = [
            f"""SELECT toStartOfInterval(minute, toIntervalSecond({{bucket:UInt32}})) AS b, {group_col} AS g,
                       requests AS rq, errors AS er, uncached_input_tokens AS ui, cache_read_tokens AS cr,
                       cache_write_tokens AS cw, output_text_tokens AS ot, reasoning_tokens AS rt,
                       cost_total AS c, provider_cost AS pc, unpriced AS up
                FROM {self.tables.usage_minute} FINAL
                WHERE project_id = {{project:String}} AND minute >= toDateTime(intDiv({{lo:Int64}}, 1000000000))
                  AND minute < toDateTime(intDiv({{hi:Int64}}, 1000000000)){dim_sql}{not_pending}"""
        ]
        if pend:
            parts.append(
                f"""SELECT toStartOfInterval(toDateTime(start_time), toIntervalSecond({{bucket:UInt32}})) AS b, {group_col} AS g,
                           toUInt64(1) AS rq, toUInt64(status_code = 2) AS er, uncached_input_tokens AS ui,
                           cache_read_tokens AS cr, cache_write_tokens AS cw, output_text_tokens AS ot,
                           reasoning_tokens AS rt, toNullable(toDecimal128(cost_total, 12)) AS c,
                           toNullable(toDecimal128(provider_cost, 12)) AS pc, toUInt64(cost_total IS NULL) AS up
                    FROM {self.spans} FINAL
                    WHERE project_id = {{project:String}} AND ({" OR ".join(pend)}) AND {LLM_CALL}{dim_sql}"""
            )
        return self._rows(
            f"""
            SELECT toUnixTimestamp(b) AS bucket_start, g AS group, sum(rq) AS requests, sum(er) AS errors,
                   sum(ui) AS uncached_input_tokens, sum(cr) AS cache_read_tokens, sum(cw) AS cache_write_tokens,
                   sum(ot) AS output_text_tokens, sum(rt) AS reasoning_tokens,
                   sum(ui) + sum(cr) + sum(cw) AS input_tokens, sum(ot) + sum(rt) AS output_tokens,
                   sum(c) AS cost_total, sum(pc) AS provider_cost, sum(up) AS unpriced
            FROM ({" UNION ALL ".join(parts)})
            GROUP BY bucket_start, group HAVING sum(rq) > 0
            ORDER BY bucket_start, group
            """,
            params,
        )

    TOP_ORDER = {
        "cost_total": "sum(cost_total)",
        "requests": "count()",
        "input_tokens": "sum(input_tokens)",
        "output_tokens": "sum(output_tokens)",
        "errors": "countIf(status_code = 2)",
    }

    def top(self, f: SpanFilter, *, group_by: str, order_by: str = "cost_total", limit: int = 20) -> list[dict[str, Any]]:
        """The N largest groups over the whole range (no time buckets): top
        users, sessions, models or attribute values by cost or volume."""
        if order_by not in self.TOP_ORDER:
            raise QueryError(f"order_by must be one of {list(self.TOP_ORDER)}")
        where, params = f.where()
        params["limit"] = limit
        return self._rows(
            f"""
            SELECT {group_expr(group_by)} AS group,
                   count() AS requests, countIf(status_code = 2) AS errors,
                   sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                   sum(cost_total) AS cost_total, countIf(cost_total IS NULL) AS unpriced,
                   if(count() = 0, NULL, sum(cost_total) / count()) AS cost_per_request
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL}
            GROUP BY group
            ORDER BY {self.TOP_ORDER[order_by]} DESC NULLS LAST, group
            LIMIT {{limit:UInt32}}
            """,
            params,
        )

    def provider_cost_comparison(self, f: SpanFilter, *, group_by: str | None = "model") -> list[dict[str, Any]]:
        """Provider-reported cost (OpenInference llm.cost.*, OpenLIT
        gen_ai.usage.cost, pydantic-ai operation.cost) beside ours, over the
        calls that carry both, so a pricing disagreement is visible."""
        where, params = f.where()
        return self._rows(
            f"""
            SELECT {group_expr(group_by)} AS group,
                   countIf(provider_cost IS NOT NULL) AS calls_with_provider_cost,
                   countIf(provider_cost IS NOT NULL AND cost_total IS NOT NULL) AS calls_compared,
                   sumIf(provider_cost, provider_cost IS NOT NULL AND cost_total IS NOT NULL) AS provider_cost,
                   sumIf(cost_total, provider_cost IS NOT NULL AND cost_total IS NOT NULL) AS our_cost,
                   sumIf(provider_cost, provider_cost IS NOT NULL AND cost_total IS NOT NULL)
                     - sumIf(cost_total, provider_cost IS NOT NULL AND cost_total IS NOT NULL) AS difference,
                   maxIf(abs(toFloat64(provider_cost) - toFloat64(cost_total)) / greatest(toFloat64(cost_total), 1e-12),
                         provider_cost IS NOT NULL AND cost_total IS NOT NULL) AS max_relative_difference
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL}
            GROUP BY group HAVING calls_with_provider_cost > 0
            ORDER BY abs(difference) DESC, group
            """,
            params,
        )

    def genai_metrics(
        self, project_id: str, start_ns: int, end_ns: int, *, name: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Stored gen_ai.* metric points (token usage and duration histograms,
        server time to first token, ...), newest first."""
        params: dict[str, Any] = {"project": project_id, "start_ns": start_ns, "end_ns": end_ns, "limit": limit}
        name_sql = ""
        if name:
            name_sql = " AND metric_name = {name:String}"
            params["name"] = name
        return self._rows(
            f"""SELECT metric_name, metric_type, unit, service_name, toUnixTimestamp64Nano(time) AS time_ns,
                       attributes, value, count, sum, min, max, bucket_counts, explicit_bounds
                FROM {self.tables.metrics} FINAL
                WHERE project_id = {{project:String}}
                  AND time >= fromUnixTimestamp64Nano({{start_ns:Int64}}) AND time < fromUnixTimestamp64Nano({{end_ns:Int64}}){name_sql}
                ORDER BY time DESC, metric_name LIMIT {{limit:UInt32}}""",
            params,
        )

    def latency(self, f: SpanFilter, *, group_by: str | None) -> list[dict[str, Any]]:
        where, params = f.where()
        return self._rows(
            f"""
            SELECT {group_expr(group_by)} AS group,
                   count() AS requests,
                   countIf(status_code = 2) AS errors,
                   if(count() = 0, 0, countIf(status_code = 2) / count()) AS error_rate,
                   quantilesExact(0.5, 0.95, 0.99)(duration_ns) AS duration_ns_q,
                   quantilesExactIf(0.5, 0.95, 0.99)(assumeNotNull(ttft_ns), ttft_ns IS NOT NULL) AS ttft_ns_q,
                   countIf(ttft_ns IS NOT NULL) AS ttft_samples
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL}
            GROUP BY group ORDER BY requests DESC
            """,
            params,
        )

    def sampling(self, f: SpanFilter) -> dict[str, Any]:
        """How many spans (and LLM calls) kept their content under ingest sampling."""
        where, params = f.where()
        rows = self._rows(
            f"""
            SELECT count() AS spans, countIf(content_kept = 1) AS spans_with_content,
                   countIf({LLM_CALL}) AS llm_calls, countIf({LLM_CALL} AND content_kept = 1) AS llm_calls_with_content
            FROM {self.spans} FINAL
            WHERE {where}
            """,
            params,
        )
        return rows[0]

    def unpriced(self, f: SpanFilter) -> list[dict[str, Any]]:
        where, params = f.where()
        return self._rows(
            f"""
            SELECT model, provider, price_status, count() AS calls,
                   sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                   toUnixTimestamp64Nano(max(start_time)) AS last_seen_ns
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL} AND cost_total IS NULL
            GROUP BY model, provider, price_status ORDER BY calls DESC
            """,
            params,
        )
