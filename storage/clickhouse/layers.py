"""SQL for counting each LLM call once across exports: read the shape of
whole traces, and stop counting given spans with one INSERT ... SELECT (a
newer version of each row with counts_usage = 0)."""

from __future__ import annotations

import time
from typing import Any

from clickhouse_connect.driver.client import Client

from storage.clickhouse.queries import FORMATS
from storage.clickhouse.schema import SPAN_COLUMNS
from storage.clickhouse.tables import Tables

def trace_shapes(client: Client, tables: Tables, project_id: str, trace_ids: list[str]) -> list[tuple[Any, ...]]:
    """(trace_id, span_id, parent_span_id, is_usage, is_server, counts_usage,
    start_ns) of every span of the given traces, from `span_links` (a few
    primary-key ranges per trace)."""
    if not trace_ids:
        return []
    res = client.query(
        f"""SELECT toString(trace_id), toString(span_id), parent_span_id, is_usage, is_server, counts_usage,
                   toUnixTimestamp64Nano(start_time)
            FROM {tables.span_links} FINAL
            WHERE project_id = {{p:String}} AND trace_id IN {{ids:Array(String)}}""",
        parameters={"p": project_id, "ids": trace_ids},
        query_formats=FORMATS,
    )
    return res.result_rows


def stop_counting(
    client: Client, tables: Tables, project_id: str, keys: list[tuple[str, str]], lo_ns: int, hi_ns: int
) -> None:
    """Rewrite the given spans with counts_usage = 0 (newest version wins)."""
    if not keys:
        return
    version = time.time_ns()
    cols = ", ".join(
        "toUInt8(0) AS counts_usage" if c == "counts_usage" else f"toUInt64({version}) AS version" if c == "version" else c
        for c in SPAN_COLUMNS
    )
    client.command(
        f"""INSERT INTO {tables.spans} ({", ".join(SPAN_COLUMNS)})
            SELECT {cols} FROM {tables.spans} FINAL
            WHERE project_id = {{p:String}}
              AND start_time >= fromUnixTimestamp64Nano({{lo:Int64}}) AND start_time <= fromUnixTimestamp64Nano({{hi:Int64}})
              AND (toString(trace_id), toString(span_id)) IN {{keys:Array(Tuple(String, String))}}""",
        parameters={"p": project_id, "lo": lo_ns, "hi": hi_ns, "keys": keys},
        settings={"prefer_column_name_to_alias": 1, "do_not_merge_across_partitions_select_final": 1},
    )
