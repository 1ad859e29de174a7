"""The values alert rules and budgets compare against thresholds: one
windowed aggregate per group, over the spans table (cost, tokens, latency,
errors) or the evaluations table (evaluator scores, PII rate, drift p-values).
Same exactness rules as the API's reads: FINAL, and only LLM calls that
count usage (a call traced by several layers is counted once)."""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from storage.clickhouse.queries import GROUPABLE, LLM_CALL, group_expr
from storage.clickhouse.tables import Tables

SETTINGS = {"prefer_column_name_to_alias": 1, "do_not_merge_across_partitions_select_final": 1}

SPAN_AGGREGATES = {
    "cost": "toFloat64(sum(cost_total))",
    "cost_per_request": "toFloat64(avg(cost_total))",  # priced calls (unpriced cost is NULL)
    "tokens": "toFloat64(sum(uncached_input_tokens + cache_read_tokens + cache_write_tokens + output_text_tokens"
              " + reasoning_tokens))",
    "input_tokens": "toFloat64(sum(uncached_input_tokens + cache_read_tokens + cache_write_tokens))",
    "output_tokens": "toFloat64(sum(output_text_tokens + reasoning_tokens))",
    "requests": "toFloat64(count())",
    "errors": "toFloat64(countIf(status_code = 2))",
    "error_rate": "countIf(status_code = 2) / count()",
    "latency_p50": "quantile(0.5)(duration_ns) / 1e6",
    "latency_p95": "quantile(0.95)(duration_ns) / 1e6",
    "latency_p99": "quantile(0.99)(duration_ns) / 1e6",
    "ttft_p50": "quantile(0.5)(ttft_ns) / 1e6",
    "ttft_p95": "quantile(0.95)(ttft_ns) / 1e6",
    "ttft_p99": "quantile(0.99)(ttft_ns) / 1e6",
}  # fmt: skip
EVAL_AGGREGATES = {
    "eval_score": "avg(score)",
    "eval_fail_rate": "avg(score = 0)",
    "pii_rate": "avg(JSONLength(details, 'findings') > 0)",
    "drift_p_value": "min(score)",
}
EVAL_GROUPS = {"model": "model", "service": "service_name"}


class AlertQueries:
    def __init__(self, client: Client, tables: Tables = Tables()) -> None:
        self.client = client
        self.t = tables

    def _pairs(self, sql: str, params: dict[str, Any]) -> dict[str, tuple[float, int]]:
        rows = self.client.query(sql, parameters=params, settings=SETTINGS).result_rows
        return {str(g): (float(v), int(n)) for g, v, n in rows if v is not None and v == v}

    def metric(self, project_id: str, metric: str, params: dict[str, Any], group_by: str | None,
               start_ns: int, end_ns: int) -> dict[str, tuple[float, int]]:  # fmt: skip
        """{group value ('' when not grouped): (metric value, samples)} for the
        window; samples = the calls (or scores) the value was computed from."""
        if metric in SPAN_AGGREGATES:
            return self._span_metric(project_id, metric, params, group_by, start_ns, end_ns)
        if metric in EVAL_AGGREGATES:
            return self._eval_metric(project_id, metric, params, group_by, start_ns, end_ns)
        raise ValueError(f"unknown metric {metric!r}")

    def _span_metric(self, project_id: str, metric: str, params: dict[str, Any], group_by: str | None,
                     start_ns: int, end_ns: int) -> dict[str, float]:  # fmt: skip
        group = group_expr(group_by) if group_by else "''"
        where = [LLM_CALL, "project_id = {project:String}",
                 "start_time >= fromUnixTimestamp64Nano({start:Int64})",
                 "start_time < fromUnixTimestamp64Nano({end:Int64})"]  # fmt: skip
        qp: dict[str, Any] = {"project": project_id, "start": start_ns, "end": end_ns}
        filters = params.get("filters") or {}
        for key, col in (("service", "service_name"), ("model", "model"), ("span_type", "span_type")):
            if filters.get(key):
                where.append(f"{col} = {{f_{key}:String}}")
                qp[f"f_{key}"] = filters[key]
        for i, (k, val) in enumerate(sorted((filters.get("attributes") or {}).items())):
            where.append(f"(span_attributes[{{fk{i}:String}}] = {{fv{i}:String}}"
                         f" OR resource_attributes[{{fk{i}:String}}] = {{fv{i}:String}})")  # fmt: skip
            qp[f"fk{i}"], qp[f"fv{i}"] = k, val
        sql = f"""
            SELECT {group} AS grp, {SPAN_AGGREGATES[metric]} AS value, count() AS n
            FROM {self.t.spans} FINAL WHERE {' AND '.join(where)}
            GROUP BY grp
        """
        return self._pairs(sql, qp)

    def _eval_metric(self, project_id: str, metric: str, params: dict[str, Any], group_by: str | None,
                     start_ns: int, end_ns: int) -> dict[str, float]:  # fmt: skip
        group = EVAL_GROUPS[group_by] if group_by else "''"
        evaluator = params.get("evaluator") or {"pii_rate": "pii", "drift_p_value": "drift"}.get(metric, "")
        where = ["project_id = {project:String}", "evaluator = {evaluator:String}", "score IS NOT NULL",
                 "time >= fromUnixTimestamp64Nano({start:Int64})", "time < fromUnixTimestamp64Nano({end:Int64})",
                 "trace_id = ''" if metric == "drift_p_value" else "trace_id != ''"]  # fmt: skip
        qp: dict[str, Any] = {"project": project_id, "evaluator": evaluator, "start": start_ns, "end": end_ns}
        aggregate = EVAL_AGGREGATES[metric]
        if metric == "pii_rate" and params.get("entity_types"):
            aggregate = ("avg(arrayExists(f -> JSONExtractString(f, 'entity_type') IN {entity_types:Array(String)},"
                         " JSONExtractArrayRaw(details, 'findings')))")  # fmt: skip
            qp["entity_types"] = list(params["entity_types"])
        metric_name = params.get("feature") if metric == "drift_p_value" else params.get("metric")
        if metric_name:
            where.append("metric = {metric:String}")
            qp["metric"] = metric_name
        filters = params.get("filters") or {}
        for key, col in (("service", "service_name"), ("model", "model")):
            if filters.get(key):
                where.append(f"{col} = {{f_{key}:String}}")
                qp[f"f_{key}"] = filters[key]
        sql = f"""
            SELECT {group} AS grp, {aggregate} AS value, count() AS n
            FROM {self.t.evaluations} FINAL WHERE {' AND '.join(where)}
            GROUP BY grp
        """
        return self._pairs(sql, qp)

    def spend(self, project_id: str, scope: str, scope_value: str, start_ns: int, end_ns: int) -> float:
        """Cost of the budget's scope in [start, end): a project, a user or an attribute value."""
        where = [LLM_CALL, "project_id = {project:String}",
                 "start_time >= fromUnixTimestamp64Nano({start:Int64})",
                 "start_time < fromUnixTimestamp64Nano({end:Int64})"]  # fmt: skip
        qp: dict[str, Any] = {"project": project_id, "start": start_ns, "end": end_ns, "value": scope_value}
        if scope == "user":
            where.append(f"{GROUPABLE['user']} = {{value:String}}")
        elif scope.startswith("attr:"):
            where.append(f"{group_expr(scope)} = {{value:String}}")
        sql = f"SELECT toFloat64(sum(cost_total)) FROM {self.t.spans} FINAL WHERE {' AND '.join(where)}"
        rows = self.client.query(sql, parameters=qp, settings=SETTINGS).result_rows
        value = rows[0][0] if rows else None
        return float(value) if value is not None and value == value else 0.0
