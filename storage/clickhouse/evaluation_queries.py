"""Reads and writes of the evaluation worker and the evaluations API.

The worker pages through spans in ingest order with a keyset (ingested_at,
trace_id, span_id), so a persisted watermark says exactly which spans an
evaluator version has seen; sampling is decided in SQL by a hash of the span
id, so the heavy message columns of unsampled spans are never read and every
replica samples the same spans.  Scores are written to `evaluations`, whose
ReplacingMergeTree key makes a rescore replace the earlier row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from storage.clickhouse.tables import Tables

SETTINGS = {"prefer_column_name_to_alias": 1, "do_not_merge_across_partitions_select_final": 1}
FORMATS = {"FixedString": "string"}  # span and trace ids as text, not bytes
SAMPLE_SCALE = 1_000_000
_ATTR_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,200}$")
CONTEXT_ATTRIBUTES = ("llmobs.context", "gen_ai.context")

_TS = pa.timestamp("ns", tz="UTC")
EVALUATION_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("time", _TS), ("trace_id", pa.string()), ("span_id", pa.string()),
    ("evaluator", pa.string()), ("version", pa.string()), ("metric", pa.string()), ("score", pa.float64()),
    ("label", pa.string()), ("explanation", pa.string()), ("details", pa.string()), ("source", pa.string()),
    ("service_name", pa.string()), ("model", pa.string()), ("evaluated_at", _TS), ("record_version", pa.uint64()),
])  # fmt: skip
EVALUATION_COLUMNS = EVALUATION_SCHEMA.names

SPAN_FIELDS = """
    trace_id, span_id, toUnixTimestamp64Nano(start_time) AS start_ns,
    toUnixTimestamp64Micro(ingested_at) AS ingested_us, service_name, span_type, operation, provider, model,
    input_messages, output_messages, system_instructions, documents,
    uncached_input_tokens + cache_read_tokens + cache_write_tokens AS input_tokens,
    output_text_tokens + reasoning_tokens AS output_tokens,
    duration_ns, ttft_ns, toFloat64(cost_total) AS cost_total, finish_reasons, error_type, status_code,
    tool_name, max_tokens, span_attributes
"""


@dataclass(frozen=True, slots=True)
class Watermark:
    """The last span (in ingest order) an evaluator version has dealt with."""

    ingested_us: int = 0
    trace_id: str = ""
    span_id: str = ""


@dataclass(frozen=True, slots=True)
class SpanSelection:
    """Which spans an evaluator config looks at."""

    project_id: str
    service: str | None = None
    model: str | None = None
    span_type: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    sampling_rate: float = 1.0

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses = ["project_id = {project:String}"]
        params: dict[str, Any] = {"project": self.project_id}
        for col, value in (("service_name", self.service), ("model", self.model), ("span_type", self.span_type)):
            if value:
                clauses.append(f"{col} = {{{col}:String}}")
                params[col] = value
        for i, (key, value) in enumerate(sorted(self.attributes.items())):
            if not _ATTR_KEY.match(key):
                raise ValueError(f"invalid attribute key {key!r}")
            clauses.append(
                f"(span_attributes[{{ak{i}:String}}] = {{av{i}:String}}"
                f" OR resource_attributes[{{ak{i}:String}}] = {{av{i}:String}})"
            )
            params[f"ak{i}"], params[f"av{i}"] = key, value
        if self.sampling_rate < 1.0:
            clauses.append("cityHash64(span_id) % {sample_scale:UInt64} < {sample_below:UInt64}")
            params["sample_scale"] = SAMPLE_SCALE
            params["sample_below"] = int(round(self.sampling_rate * SAMPLE_SCALE))
        return " AND ".join(clauses), params


class EvaluationQueries:
    def __init__(self, client: Client, tables: Tables = Tables()) -> None:
        self.client = client
        self.t = tables

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        res = self.client.query(sql, parameters=params, settings=SETTINGS, query_formats=FORMATS)
        return [dict(zip(res.column_names, row, strict=True)) for row in res.result_rows]

    # ---- the worker's reads

    def spans_after(
        self, sel: SpanSelection, after: Watermark, *, cutoff_us: int, since_ns: int, until_ns: int | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Sampled spans ingested after `after` and before `cutoff_us`, oldest
        first; `since_ns`/`until_ns` bound their start time (the primary key)."""
        where, params = sel.where()
        params.update(
            since=since_ns, until=until_ns or (time.time_ns() + 3600 * 10**9), cutoff=cutoff_us,
            wm_us=after.ingested_us, wm_trace=after.trace_id, wm_span=after.span_id, limit=limit,
        )  # fmt: skip
        sql = f"""
            SELECT {SPAN_FIELDS} FROM {self.t.spans} FINAL
            WHERE {where}
              AND start_time >= fromUnixTimestamp64Nano({{since:Int64}})
              AND start_time < fromUnixTimestamp64Nano({{until:Int64}})
              AND ingested_at < fromUnixTimestamp64Micro({{cutoff:Int64}})
              AND (toUnixTimestamp64Micro(ingested_at), toString(trace_id), toString(span_id))
                  > ({{wm_us:Int64}}, {{wm_trace:String}}, {{wm_span:String}})
            ORDER BY ingested_at, trace_id, span_id
            LIMIT {{limit:UInt32}}
        """
        return self._rows(sql, params)

    def count_spans(self, sel: SpanSelection, *, since_ns: int, until_ns: int) -> int:
        where, params = sel.where()
        params.update(since=since_ns, until=until_ns)
        sql = f"""
            SELECT count() FROM {self.t.spans} FINAL WHERE {where}
              AND start_time >= fromUnixTimestamp64Nano({{since:Int64}})
              AND start_time < fromUnixTimestamp64Nano({{until:Int64}})
        """
        return int(self.client.query(sql, parameters=params, settings=SETTINGS).result_rows[0][0])

    def window_spans(self, sel: SpanSelection, *, since_ns: int, until_ns: int, limit: int = 5000) -> list[dict[str, Any]]:
        """Spans that started in a window (drift compares two of them)."""
        where, params = sel.where()
        params.update(since=since_ns, until=until_ns, limit=limit)
        sql = f"""
            SELECT {SPAN_FIELDS}, toUInt64(0) AS ingested_us_unused FROM {self.t.spans} FINAL
            WHERE {where}
              AND start_time >= fromUnixTimestamp64Nano({{since:Int64}})
              AND start_time < fromUnixTimestamp64Nano({{until:Int64}})
            ORDER BY cityHash64(span_id)
            LIMIT {{limit:UInt32}}
        """
        return self._rows(sql, params)

    def trace_context(self, project_id: str, trace_ids: Sequence[str], lo_ns: int, hi_ns: int) -> dict[str, list[str]]:
        """Per trace: texts of retrieved documents and tool results (what an
        answer in that trace should be grounded in), in start order."""
        if not trace_ids:
            return {}
        sql = f"""
            SELECT trace_id, span_type, documents, output_messages, span_attributes['gen_ai.tool.call.result'] AS result
            FROM {self.t.spans} FINAL
            WHERE project_id = {{project:String}} AND trace_id IN {{traces:Array(String)}}
              AND start_time >= fromUnixTimestamp64Nano({{lo:Int64}})
              AND start_time < fromUnixTimestamp64Nano({{hi:Int64}})
              AND span_type IN ('retriever', 'tool')
            ORDER BY trace_id, start_time
        """
        out: dict[str, list[str]] = {}
        for row in self._rows(sql, {"project": project_id, "traces": list(trace_ids), "lo": lo_ns, "hi": hi_ns}):
            texts = out.setdefault(row["trace_id"], [])
            if row["span_type"] == "retriever" and row["documents"]:
                for doc in _json_list(row["documents"]):
                    if isinstance(doc, dict) and doc.get("content"):
                        texts.append(str(doc["content"]))
            elif row["span_type"] == "tool":
                if row["result"]:
                    texts.append(row["result"])
                else:
                    texts.extend(_message_texts(_json_list(row["output_messages"])))
        return out

    # ---- writes

    def insert_results(self, rows: Iterable[Sequence[Any]]) -> int:
        """One Arrow insert (the engine parses it without a per-value Python loop)."""
        data = list(rows)
        if data:
            columns = list(zip(*data, strict=True))
            table = pa.Table.from_arrays(
                [pa.array(col, type=f.type) for col, f in zip(columns, EVALUATION_SCHEMA, strict=True)],
                schema=EVALUATION_SCHEMA,
            )
            self.client.insert_arrow(self.t.evaluations, table)
        return len(data)

    # ---- the API's reads

    def scores_over_time(
        self, project_id: str, start_ns: int, end_ns: int, *, bucket_s: int, evaluator: str | None = None
    ) -> list[dict[str, Any]]:
        cond = " AND evaluator = {evaluator:String}" if evaluator else ""
        sql = f"""
            SELECT toStartOfInterval(time, toIntervalSecond({{bucket:UInt32}})) AS bucket, evaluator, metric, source,
                   count() AS n, avg(score) AS mean, min(score) AS min, max(score) AS max,
                   countIf(label IN ('fail', 'leak', 'ungrounded', 'hallucinated', 'drift')) AS flagged
            FROM {self.t.evaluations} FINAL
            WHERE project_id = {{project:String}} AND trace_id != ''
              AND time >= fromUnixTimestamp64Nano({{start:Int64}}) AND time < fromUnixTimestamp64Nano({{end:Int64}})
              {cond}
            GROUP BY bucket, evaluator, metric, source ORDER BY bucket, evaluator, metric, source
        """
        params = {"project": project_id, "start": start_ns, "end": end_ns, "bucket": bucket_s, "evaluator": evaluator or ""}
        return self._rows(sql, params)

    def worst_spans(
        self, project_id: str, start_ns: int, end_ns: int, *, evaluator: str, metric: str | None, limit: int
    ) -> list[dict[str, Any]]:
        cond = " AND metric = {metric:String}" if metric else ""
        sql = f"""
            SELECT trace_id, span_id, evaluator, version, metric, score, label, explanation, details, source,
                   service_name, model, time
            FROM {self.t.evaluations} FINAL
            WHERE project_id = {{project:String}} AND evaluator = {{evaluator:String}} AND trace_id != ''
              AND score IS NOT NULL
              AND time >= fromUnixTimestamp64Nano({{start:Int64}}) AND time < fromUnixTimestamp64Nano({{end:Int64}})
              {cond}
            ORDER BY score ASC, time DESC LIMIT {{limit:UInt32}}
        """
        params = {"project": project_id, "start": start_ns, "end": end_ns, "evaluator": evaluator,
                  "metric": metric or "", "limit": limit}  # fmt: skip
        return self._rows(sql, params)

    def findings_by_type(self, project_id: str, start_ns: int, end_ns: int, *, evaluator: str) -> list[dict[str, Any]]:
        """Findings of a scorer that records `details.findings = [{"type": ...}, ...]`
        (heuristic checks) or `[{"entity_type": ...}, ...]` (PII), counted by type."""
        sql = f"""
            SELECT coalesce(nullIf(JSONExtractString(f, 'type'), ''), JSONExtractString(f, 'entity_type')) AS type, count() AS findings, uniqExact(trace_id, span_id) AS spans
            FROM {self.t.evaluations} FINAL
            ARRAY JOIN JSONExtractArrayRaw(details, 'findings') AS f
            WHERE project_id = {{project:String}} AND evaluator = {{evaluator:String}}
              AND time >= fromUnixTimestamp64Nano({{start:Int64}}) AND time < fromUnixTimestamp64Nano({{end:Int64}})
            GROUP BY type ORDER BY findings DESC, type
        """
        return self._rows(sql, {"project": project_id, "start": start_ns, "end": end_ns, "evaluator": evaluator})

    def drift_series(self, project_id: str, start_ns: int, end_ns: int, *, evaluator: str) -> list[dict[str, Any]]:
        sql = f"""
            SELECT time, model, metric AS feature, score AS p_value, label, details
            FROM {self.t.evaluations} FINAL
            WHERE project_id = {{project:String}} AND evaluator = {{evaluator:String}} AND trace_id = ''
              AND time >= fromUnixTimestamp64Nano({{start:Int64}}) AND time < fromUnixTimestamp64Nano({{end:Int64}})
            ORDER BY feature, model, time
        """
        return self._rows(sql, {"project": project_id, "start": start_ns, "end": end_ns, "evaluator": evaluator})

    def span_scores(self, project_id: str, trace_id: str) -> list[dict[str, Any]]:
        sql = f"""
            SELECT span_id, evaluator, version, metric, score, label, explanation, details, source, time
            FROM {self.t.evaluations} FINAL
            WHERE project_id = {{project:String}} AND trace_id = {{trace:String}}
            ORDER BY span_id, evaluator, metric
        """
        return self._rows(sql, {"project": project_id, "trace": trace_id})


def result_row(
    project_id: str, span: dict[str, Any], evaluator: str, version: str, metric: str, score: float | None,
    label: str, explanation: str, details: dict[str, Any], *, source: str = "worker",
) -> tuple[Any, ...]:
    now = time.time_ns()
    return (
        project_id, span["start_ns"], span["trace_id"], span["span_id"], evaluator, version, metric,
        None if score is None else float(score), label, explanation,
        orjson.dumps(details, default=str).decode() if details else "", source,
        span.get("service_name", ""), span.get("model", ""), now, now,
    )  # fmt: skip


def _json_list(text: str) -> list[Any]:
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


def _message_texts(messages: list[Any]) -> list[str]:
    out = []
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        for part in msg.get("parts") or ():
            if isinstance(part, dict) and part.get("type") == "text" and part.get("content"):
                out.append(str(part["content"]))
            elif isinstance(part, dict) and part.get("type") == "tool_call_response" and part.get("response"):
                out.append(str(part["response"]))
    return out
