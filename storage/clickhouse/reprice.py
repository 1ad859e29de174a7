"""Bulk cost rewrite for a time range, without touching rows one at a time.

New costs are loaded into a scratch table, then ONE `INSERT ... SELECT` copies
the affected spans with the new cost columns and a higher `version`; the
ReplacingMergeTree keeps the newest copy, and FINAL reads see it at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from storage.clickhouse.queries import FORMATS, SETTINGS
from storage.clickhouse.schema import COST_COLUMNS, SPAN_COLUMNS
from storage.clickhouse.tables import Tables

USAGE_COLUMNS = [
    "trace_id", "span_id", "start_ns", "span_type", "counts_usage", "provider", "request_model",
    "response_model", "uncached_input_tokens", "cache_read_tokens", "cache_write_tokens",
    "output_text_tokens", "reasoning_tokens", "cost_total",
]  # fmt: skip


def iter_usage(
    client: Client, tables: Tables, project_id: str, start_ns: int, end_ns: int, block: int = 50_000
) -> Iterator[list[dict[str, Any]]]:
    """LLM and embedding spans of the range, in blocks (streamed, bounded memory)."""
    sql = f"""
        SELECT toString(trace_id) AS trace_id, toString(span_id) AS span_id,
               toUnixTimestamp64Nano(start_time) AS start_ns, span_type, counts_usage, provider,
               request_model, response_model, uncached_input_tokens, cache_read_tokens,
               cache_write_tokens, output_text_tokens, reasoning_tokens, cost_total
        FROM {tables.spans} FINAL
        WHERE project_id = {{p:String}} AND start_time >= fromUnixTimestamp64Nano({{s:Int64}})
          AND start_time < fromUnixTimestamp64Nano({{e:Int64}}) AND span_type IN ('llm', 'embedding')
    """
    params = {"p": project_id, "s": start_ns, "e": end_ns}
    with client.query_row_block_stream(sql, parameters=params, query_formats=FORMATS, settings=SETTINGS) as stream:
        buf: list[dict[str, Any]] = []
        for rows in stream:
            buf.extend(dict(zip(USAGE_COLUMNS, r)) for r in rows)
            if len(buf) >= block:
                yield buf
                buf = []
        if buf:
            yield buf


def totals(client: Client, tables: Tables, project_id: str, start_ns: int, end_ns: int) -> dict[str, Any]:
    row = client.query(
        f"""SELECT count() AS calls, countIf(cost_total IS NOT NULL) AS priced,
                  sum(cost_total) AS cost_sum
           FROM {tables.spans} FINAL
           WHERE project_id = {{p:String}} AND start_time >= fromUnixTimestamp64Nano({{s:Int64}})
             AND start_time < fromUnixTimestamp64Nano({{e:Int64}})
             AND span_type IN ('llm', 'embedding') AND counts_usage = 1""",
        parameters={"p": project_id, "s": start_ns, "e": end_ns},
        settings=SETTINGS,
    ).result_rows[0]
    return {"calls": int(row[0]), "priced": int(row[1]), "cost_total": row[2] if row[2] is not None else Decimal(0)}


def apply_costs(
    client: Client, tables: Tables, project_id: str, start_ns: int, end_ns: int, costs: dict[str, list[Any]]
) -> int:
    """Write new cost columns for the (trace_id, span_id) pairs in `costs`."""
    n = len(costs["trace_id"])
    if n == 0:
        return 0
    scratch = f"reprice_{uuid.uuid4().hex[:12]}"
    client.command(
        f"""CREATE TABLE {scratch} (
            trace_id FixedString(32), span_id FixedString(16),
            cost_input Nullable(Decimal(18, 12)), cost_cache_read Nullable(Decimal(18, 12)),
            cost_cache_write Nullable(Decimal(18, 12)), cost_output Nullable(Decimal(18, 12)),
            cost_reasoning Nullable(Decimal(18, 12)), cost_total Nullable(Decimal(18, 12)),
            price_status String, price_source String, price_version String
        ) ENGINE = MergeTree ORDER BY (trace_id, span_id)"""
    )
    try:
        names = ["trace_id", "span_id", *COST_COLUMNS]
        client.insert(scratch, [costs[c] for c in names], column_names=names, column_oriented=True)
        version = time.time_ns()
        select_cols = []
        for col in SPAN_COLUMNS:
            if col in COST_COLUMNS:
                select_cols.append(f"r.{col} AS {col}")
            elif col == "version":
                select_cols.append(f"toUInt64({version}) AS version")
            else:
                select_cols.append(f"s.{col} AS {col}")
        client.command(
            f"""INSERT INTO {tables.spans} ({", ".join(SPAN_COLUMNS)})
                SELECT {", ".join(select_cols)}
                FROM (SELECT * FROM {tables.spans} FINAL
                      WHERE project_id = {{p:String}} AND start_time >= fromUnixTimestamp64Nano({{s:Int64}})
                        AND start_time < fromUnixTimestamp64Nano({{e:Int64}})) AS s
                INNER JOIN {scratch} AS r ON s.trace_id = r.trace_id AND s.span_id = r.span_id""",
            parameters={"p": project_id, "s": start_ns, "e": end_ns},
            settings=SETTINGS,
        )
    finally:
        client.command(f"DROP TABLE IF EXISTS {scratch}")
    return n
