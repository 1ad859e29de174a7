"""Aggregates the dashboard shows in one glance: totals of a range beside the
previous range of the same length, per-group breakdowns (users, sessions,
models) with cost and latency together, and cached-token figures.

One scan per answer: the summary reads the current and the previous period
in the same pass (a period column), and a breakdown computes volume, cost,
latency percentiles and trace counts together, so a page costs one query
instead of one per number.  Same exactness rules as `queries.py`: FINAL, and
usage counted only for `counts_usage = 1` LLM and embedding spans.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from storage.clickhouse.queries import (
    FORMATS, LLM_CALL, SETTINGS, QueryError, SpanFilter, group_expr, trace_list_sql,
)  # fmt: skip
from storage.clickhouse.tables import Tables

BREAKDOWN_ORDER = {
    "cost_total": "sum(cost_total)",
    "requests": "count()",
    "errors": "countIf(status_code = 2)",
    "input_tokens": "sum(input_tokens)",
    "output_tokens": "sum(output_tokens)",
    "latency_p95": "quantile(0.95)(duration_ns)",
    "last_seen": "max(start_time)",
}

# Whole expressions, not the output aliases: with prefer_column_name_to_alias
# a name like duration_ns would mean the spans column.
TRACE_ORDER = {
    "duration": "max(end_time) - min(start_time)",
    "cost": f"sumIf(cost_total, {LLM_CALL})",
    "tokens": f"sumIf(input_tokens, {LLM_CALL}) + sumIf(output_tokens, {LLM_CALL})",
    "errors": "countIf(status_code = 2)",
    "start": "min(start_time)",
}

# Labels that mean a span failed its check (heuristics, grounding, judges).
FAILING_LABELS = ("fail", "ungrounded", "unfaithful", "hallucinated", "leak")

# Ranking of the top-N time series: aggregates of one (bucket, group) cell.
SERIES_ORDER = {
    "cost_total": "sum(cost_total)",
    "requests": "count()",
    "input_tokens": "sum(input_tokens)",
    "output_tokens": "sum(output_tokens)",
    "errors": "countIf(status_code = 2)",
}

_TOTALS = f"""
    count() AS requests,
    countIf(status_code = 2) AS errors,
    if(count() = 0, 0, countIf(status_code = 2) / count()) AS error_rate,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cost_total) AS cost_total,
    countIf(cost_total IS NULL) AS unpriced,
    uniqExactIf(user_id, user_id != '') AS users,
    uniqExactIf(session_id, session_id != '') AS sessions,
    uniqExact(trace_id) AS traces,
    quantilesExact(0.5, 0.95, 0.99)(duration_ns) AS duration_ns_q,
    quantilesExactIf(0.5, 0.95, 0.99)(assumeNotNull(ttft_ns), ttft_ns IS NOT NULL) AS ttft_ns_q,
    countIf(ttft_ns IS NOT NULL) AS ttft_samples
"""


class Insights:
    def __init__(self, client: Any, tables: Tables = Tables()) -> None:
        self.client = client
        self.spans = tables.spans
        self.evaluations = tables.evaluations

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        res = self.client.query(sql, parameters=params, query_formats=FORMATS, settings=SETTINGS)
        return [dict(zip(res.column_names, row)) for row in res.result_rows]

    def summary(self, f: SpanFilter) -> dict[str, dict[str, Any]]:
        """Totals of [start, end) as "current" and of the range of the same
        length just before it as "previous" (None fields when it had no calls)."""
        span = f.end_ns - f.start_ns
        both = replace(f, start_ns=f.start_ns - span)
        where, params = both.where()
        params["cur"] = f.start_ns
        rows = self._rows(
            f"""
            SELECT if(start_time >= fromUnixTimestamp64Nano({{cur:Int64}}), 'current', 'previous') AS period,
                   {_TOTALS}
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL}
            GROUP BY period
            """,
            params,
        )
        by = {r.pop("period"): r for r in rows}
        return {p: by.get(p) or _empty_totals() for p in ("current", "previous")}

    def breakdown(
        self, f: SpanFilter, *, group_by: str, order_by: str = "cost_total", limit: int = 50
    ) -> list[dict[str, Any]]:
        """Per group (user, session, model, attr:<key>, ...): volume, cost,
        cost per request, latency and TTFT percentiles, traces, first and
        last call, ordered by `order_by` descending."""
        if order_by not in BREAKDOWN_ORDER:
            raise QueryError(f"order_by must be one of {list(BREAKDOWN_ORDER)}")
        where, params = f.where()
        params["limit"] = limit
        return self._rows(
            f"""
            SELECT {group_expr(group_by)} AS group,
                   {_TOTALS},
                   if(count() = 0, NULL, sum(cost_total) / count()) AS cost_per_request,
                   toUnixTimestamp64Nano(min(start_time)) AS first_seen_ns,
                   toUnixTimestamp64Nano(max(start_time)) AS last_seen_ns
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL}
            GROUP BY group
            ORDER BY {BREAKDOWN_ORDER[order_by]} DESC NULLS LAST, group
            LIMIT {{limit:UInt32}}
            """,
            params,
        )

    def cache_tokens(self, f: SpanFilter, *, group_by: str = "model") -> list[dict[str, Any]]:
        """Cached-input tokens and what they cost, beside the uncached input
        tokens and their cost, per group; the caller turns the two into a
        saving at the group's own uncached rate."""
        where, params = f.where()
        return self._rows(
            f"""
            SELECT {group_expr(group_by)} AS group,
                   count() AS requests,
                   countIf(cache_read_tokens > 0) AS cached_requests,
                   sum(cache_read_tokens) AS cache_read_tokens,
                   sum(cost_cache_read) AS cost_cache_read,
                   sum(uncached_input_tokens) AS uncached_input_tokens,
                   sum(cost_input) AS cost_input
            FROM {self.spans} FINAL
            WHERE {where} AND {LLM_CALL} AND cost_total IS NOT NULL
            GROUP BY group HAVING sum(cache_read_tokens) > 0
            ORDER BY sum(cache_read_tokens) DESC, group
            """,
            params,
        )

    def top_series(
        self, f: SpanFilter, *, bucket_s: int, group_by: str, order_by: str = "cost_total", limit: int = 10
    ) -> list[dict[str, Any]]:
        """Usage over time for the `limit` largest groups over the whole range
        (by `order_by`), and one "(other)" series (`other` = 1) summing every
        remaining group, so the stacks still add up to the range's totals.

        For dimensions with many values (users, sessions, attribute values)
        the plain time series is users x buckets rows; here the ranking and the
        folding happen in the engine, in one scan (a window sum ranks groups
        over the per-bucket aggregate), and at most (limit + 1) x buckets rows
        leave it."""
        if order_by not in SERIES_ORDER:
            raise QueryError(f"order_by must be one of {list(SERIES_ORDER)}")
        where, params = f.where()
        params.update(bucket=bucket_s, top=limit)
        return self._rows(
            f"""
            SELECT bucket_start, if(rank <= {{top:UInt32}}, g, '(other)') AS group,
                   toUInt8(rank > {{top:UInt32}}) AS other,
                   sum(requests) AS requests, sum(errors) AS errors,
                   sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                   sum(cost_total) AS cost_total, sum(unpriced) AS unpriced
            FROM (
                SELECT *, dense_rank() OVER (ORDER BY group_total DESC NULLS LAST, g) AS rank
                FROM (
                    SELECT *, sum(rank_value) OVER (PARTITION BY g) AS group_total
                    FROM (
                        SELECT toUnixTimestamp(toStartOfInterval(start_time, toIntervalSecond({{bucket:UInt32}}))) AS bucket_start,
                               {group_expr(group_by)} AS g,
                               count() AS requests,
                               countIf(status_code = 2) AS errors,
                               sum(input_tokens) AS input_tokens,
                               sum(output_tokens) AS output_tokens,
                               sum(cost_total) AS cost_total,
                               countIf(cost_total IS NULL) AS unpriced,
                               {SERIES_ORDER[order_by]} AS rank_value
                        FROM {self.spans} FINAL
                        WHERE {where} AND {LLM_CALL}
                        GROUP BY bucket_start, g
                    )
                )
            )
            GROUP BY bucket_start, group, other
            ORDER BY bucket_start, other, group
            """,
            params,
        )

    def ranked_traces(self, f: SpanFilter, *, order_by: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Traces with a span matching the filter, largest first by whole-trace
        duration, cost, tokens or errors: "which trace was slowest" over the
        range, not only among the newest page."""
        if order_by not in TRACE_ORDER:
            raise QueryError(f"order_by must be one of {list(TRACE_ORDER)}")
        where, params = f.where()
        params.update(limit=limit, offset=offset)
        order = f"{TRACE_ORDER[order_by]} DESC NULLS LAST, min(start_time) DESC"
        return self._rows(trace_list_sql(self.spans, where, order), params)


    def failing_spans(
        self, project_id: str, start_ns: int, end_ns: int, *, evaluator: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The newest span scores that failed: a failing label of any scorer
        (heuristics' fail, grounding's ungrounded, a judge's unfaithful or
        hallucinated) or findings recorded (PII), newest first.  Lowest
        score is not the same thing: a PII score of 1 means a leak."""
        cond = " AND evaluator = {evaluator:String}" if evaluator else ""
        return self._rows(
            f"""
            SELECT trace_id, span_id, evaluator, metric, score, label, explanation, service_name, model,
                   toUnixTimestamp64Nano(time) AS time_ns
            FROM {self.evaluations} FINAL
            WHERE project_id = {{project:String}} AND trace_id != ''
              AND time >= fromUnixTimestamp64Nano({{start:Int64}}) AND time < fromUnixTimestamp64Nano({{end:Int64}})
              AND (label IN {{failing:Array(String)}} OR JSONLength(details, 'findings') > 0){cond}
            ORDER BY time DESC, trace_id, span_id, metric
            LIMIT {{limit:UInt32}}
            """,
            {"project": project_id, "start": start_ns, "end": end_ns, "evaluator": evaluator or "",
             "failing": list(FAILING_LABELS), "limit": limit},
        )  # fmt: skip


def _empty_totals() -> dict[str, Any]:
    return {
        "requests": 0, "errors": 0, "error_rate": 0.0, "input_tokens": 0, "output_tokens": 0,
        "cache_read_tokens": 0, "cost_total": None, "unpriced": 0, "users": 0, "sessions": 0, "traces": 0,
        "duration_ns_q": [0, 0, 0], "ttft_ns_q": [0, 0, 0], "ttft_samples": 0,
    }  # fmt: skip
