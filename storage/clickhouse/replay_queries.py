"""ClickHouse reads and writes of the replay feature: choosing captured LLM
calls to replay, and storing what the replays produced.

Kept apart from `queries.py` (the API's read layer) because replay owns three
tables of its own and its selection needs sampling and stratification that no
API listing does.  Every statement is scoped by project id.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from dataclasses import dataclass, field
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from storage.clickhouse.queries import SETTINGS, SpanFilter
from storage.clickhouse.tables import Tables

# Spans a replay exported back into llmobs carry this attribute; selection
# skips them so a replay (or the shadow loop) never replays its own output.
REPLAY_MARKER = "llmobs.replay.run_id"
_ATTR_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,200}$")
STRATA = {"model": "model", "service": "service_name", "route": "name", "operation": "operation"}

SOURCE_COLUMNS = (
    "toString(trace_id) AS trace_id", "toString(span_id) AS span_id", "toUnixTimestamp64Nano(start_time) AS start_ns", "duration_ns", "name", "service_name",
    "span_type", "operation", "provider", "request_model", "response_model", "model", "temperature", "max_tokens",
    "top_p", "seed", "stream", "input_messages", "output_messages", "system_instructions", "tool_definitions",
    "user_id", "uncached_input_tokens + cache_read_tokens + cache_write_tokens AS input_tokens",
    "output_text_tokens + reasoning_tokens AS output_tokens", "ttft_ns",
)  # fmt: skip

RESULT_COLUMNS = (
    "project_id", "run_id", "variant", "source_trace_id", "source_span_id", "started_at", "endpoint", "model",
    "status", "error", "attempts", "ttft_ns", "e2e_ns", "itl_ns", "input_tokens", "output_tokens", "finish_reason",
    "output_text", "request_json", "trace_id", "span_id", "version",
)  # fmt: skip

ENGINE_COLUMNS = (
    "project_id", "run_id", "variant", "endpoint", "scraped_at", "spec_drafts", "spec_draft_tokens",
    "spec_accepted_tokens", "spec_accepted_per_pos", "acceptance_rate", "mean_accepted_length", "kv_cache_usage",
    "queue_time_seconds_sum", "queue_time_count", "deltas", "version",
)  # fmt: skip


def utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


class SelectionError(ValueError):
    """A selection the query cannot express (unknown stratum, bad key)."""


@dataclass(slots=True)
class Selection:
    """Which captured LLM calls to replay: the API's span filter, a sample
    size, a stratum to spread the sample over, and a sampling seed (the same
    seed over the same data picks the same calls, which makes resume exact)."""

    filter: SpanFilter
    limit: int = 100
    stratify_by: str | None = None  # model | service | route | operation | attr:<key>
    seed: int = 0
    span_ids: list[str] = field(default_factory=list)  # restrict to these source spans (shadow traffic)

    def stratum_expr(self) -> str | None:
        if not self.stratify_by:
            return None
        if self.stratify_by in STRATA:
            return STRATA[self.stratify_by]
        if self.stratify_by.startswith("attr:"):
            key = self.stratify_by[5:]
            if not _ATTR_KEY.match(key):
                raise SelectionError(f"invalid attribute key {key!r}")
            return f"span_attributes['{key}']"  # the key pattern admits no quote
        raise SelectionError(f"stratify_by must be one of {sorted(STRATA)} or attr:<key>, got {self.stratify_by!r}")


@dataclass(frozen=True, slots=True)
class ReplayTables:
    """The replay tables themselves on one node; their `*_dist` Distributed
    tables on a cluster (migrations/cluster/0010)."""

    results: str = "replay_results"
    engine_metrics: str = "replay_engine_metrics"
    reports: str = "replay_reports"

    @classmethod
    def for_cluster(cls, cluster: str | None) -> "ReplayTables":
        return cls("replay_results_dist", "replay_engine_metrics_dist", "replay_reports_dist") if cluster else cls()


class ReplayStore:
    def __init__(self, client: Client, tables: Tables = Tables(), replay_tables: ReplayTables = ReplayTables()) -> None:
        self.client = client
        self.tables = tables
        self.rt = replay_tables

    @classmethod
    def for_cluster(cls, client: Client, cluster: str | None) -> "ReplayStore":
        """Reads and writes through the Distributed tables when `cluster` is set."""
        return cls(client, Tables.for_cluster(cluster), ReplayTables.for_cluster(cluster))

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        res = self.client.query(sql, parameters=params, settings=SETTINGS)
        return [dict(zip(res.column_names, row)) for row in res.result_rows]

    # ---- selection -----------------------------------------------------------------------

    def select_calls(self, sel: Selection) -> list[dict[str, Any]]:
        """Captured LLM calls matching the selection, oldest first.  Sampling
        orders by a hash of the span id and the seed; stratified sampling
        takes an equal share per stratum (`LIMIT n BY stratum`)."""
        where, params = sel.filter.where()
        where += f" AND span_type IN ('llm', 'embedding') AND counts_usage = 1 AND NOT mapContains(span_attributes, '{REPLAY_MARKER}')"
        if sel.span_ids:
            where += " AND toString(span_id) IN {span_ids:Array(String)}"
            params["span_ids"] = sel.span_ids
        params["seed"] = sel.seed
        params["limit"] = sel.limit
        stratum = sel.stratum_expr()
        cols = ", ".join(SOURCE_COLUMNS)
        if stratum:
            strata = self.client.query(
                f"SELECT uniqExact({stratum}) FROM {self.tables.spans} FINAL WHERE {where}",
                parameters=params, settings=SETTINGS,
            ).result_rows[0][0]  # fmt: skip
            params["per_stratum"] = -(-sel.limit // max(int(strata), 1))
            inner = (
                f"SELECT {cols}, {stratum} AS stratum FROM {self.tables.spans} FINAL WHERE {where} "
                "ORDER BY cityHash64(span_id, {seed:UInt64}) LIMIT {per_stratum:UInt64} BY stratum "
            )
        else:
            inner = (
                f"SELECT {cols}, '' AS stratum FROM {self.tables.spans} FINAL WHERE {where} "
                "ORDER BY cityHash64(span_id, {seed:UInt64}) "
            )
        sql = f"SELECT * FROM ({inner} LIMIT {{limit:UInt64}}) ORDER BY start_ns, span_id"
        return self._rows(sql, params)

    def new_call_ids(self, f: SpanFilter, after_ns: int, limit: int) -> list[tuple[str, int]]:
        """Span ids (and start times) of LLM calls that started after `after_ns`,
        oldest first: what the shadow loop has not looked at yet."""
        where, params = f.where()
        params.update(after_ns=after_ns, limit=limit)
        sql = (
            f"SELECT toString(span_id), toUnixTimestamp64Nano(start_time) AS s FROM {self.tables.spans} FINAL WHERE {where} "
            "AND span_type IN ('llm', 'embedding') AND counts_usage = 1 "
            f"AND NOT mapContains(span_attributes, '{REPLAY_MARKER}') "
            "AND start_time > fromUnixTimestamp64Nano({after_ns:Int64}) ORDER BY s LIMIT {limit:UInt64}"
        )
        return [(r[0], int(r[1])) for r in self.client.query(sql, parameters=params, settings=SETTINGS).result_rows]

    # ---- results -------------------------------------------------------------------------

    def write_results(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.client.insert(
                self.rt.results, [[r[c] for c in RESULT_COLUMNS] for r in rows], column_names=list(RESULT_COLUMNS)
            )

    def done_sources(self, project_id: str, run_id: str, variant: str) -> set[str]:
        """Source spans this variant already answered successfully (resume skips them)."""
        res = self.client.query(
            f"SELECT source_span_id FROM {self.rt.results} FINAL WHERE"
            " project_id = {p:String} AND run_id = {r:String} "
            "AND variant = {v:String} AND status = 'ok'",
            parameters={"p": project_id, "r": run_id, "v": variant},
        )
        return {row[0] for row in res.result_rows}

    def results(self, project_id: str, run_id: str, start_ns: int | None = None,
                end_ns: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """A run's results; with a range, those that started in [start_ns, end_ns)
        (a shadow loop's window, without reading the loop's whole history)."""
        cols = ", ".join(RESULT_COLUMNS)
        params: dict[str, Any] = {"p": project_id, "r": run_id}
        where = ""
        if start_ns is not None and end_ns is not None:
            where = (" AND started_at >= fromUnixTimestamp64Nano({s:Int64})"
                     " AND started_at < fromUnixTimestamp64Nano({e:Int64})")  # fmt: skip
            params.update(s=start_ns, e=end_ns)
        return self._rows(
            f"SELECT {cols}, toUnixTimestamp64Nano(started_at) AS started_ns FROM {self.rt.results} FINAL "
            "WHERE project_id = {p:String} AND run_id = {r:String}" + where + " ORDER BY variant, started_at",
            params,
        )

    def request_json(self, project_id: str, run_id: str, variant: str, source_span_id: str) -> str | None:
        res = self.client.query(
            f"SELECT request_json FROM {self.rt.results} FINAL WHERE"
            " project_id = {p:String} AND run_id = {r:String} "
            "AND variant = {v:String} AND source_span_id = {s:String}",
            parameters={"p": project_id, "r": run_id, "v": variant, "s": source_span_id},
        )
        return res.result_rows[0][0] if res.result_rows else None

    def source_outputs(self, project_id: str, span_ids: list[str], start_ns: int, end_ns: int) -> dict[str, str]:
        """The production output messages of the replayed source spans."""
        if not span_ids:
            return {}
        res = self.client.query(
            f"SELECT toString(span_id), output_messages FROM {self.tables.spans} FINAL WHERE project_id = {{p:String}} "
            "AND start_time >= fromUnixTimestamp64Nano({s:Int64}) AND start_time <= fromUnixTimestamp64Nano({e:Int64}) "
            "AND toString(span_id) IN {ids:Array(String)}",
            parameters={"p": project_id, "s": start_ns, "e": end_ns, "ids": span_ids},
            settings=SETTINGS,
        )
        return {r[0]: r[1] for r in res.result_rows}

    # ---- engine metrics and reports --------------------------------------------------------

    def write_engine_metrics(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.client.insert(
                self.rt.engine_metrics, [[r[c] for c in ENGINE_COLUMNS] for r in rows],
                column_names=list(ENGINE_COLUMNS),
            )  # fmt: skip

    def engine_metrics(self, project_id: str, run_id: str) -> list[dict[str, Any]]:
        cols = ", ".join(c for c in ENGINE_COLUMNS if c not in ("project_id", "run_id"))
        return self._rows(
            f"SELECT {cols} FROM {self.rt.engine_metrics} FINAL WHERE project_id = {{p:String}} AND run_id = {{r:String}} "
            "ORDER BY variant, endpoint",
            {"p": project_id, "r": run_id},
        )

    def write_report(self, project_id: str, run_id: str, window_start_ns: int, verdict: str, report: dict[str, Any],
                     created_ns: int) -> None:  # fmt: skip
        self.client.insert(
            self.rt.reports,
            [[project_id, run_id, utc(window_start_ns), utc(created_ns), verdict,
              orjson.dumps(report).decode(), created_ns]],  # fmt: skip
            column_names=["project_id", "run_id", "window_start", "created_at", "verdict", "report", "version"],
        )

    def reports(self, project_id: str, run_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            f"SELECT toUnixTimestamp64Nano(window_start) AS window_start_ns, verdict, report FROM {self.rt.reports} FINAL "
            "WHERE project_id = {p:String} AND run_id = {r:String} ORDER BY window_start",
            {"p": project_id, "r": run_id},
        )
        for r in rows:
            r["report"] = orjson.loads(r["report"])
        return rows
