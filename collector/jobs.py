"""Long jobs that run inside the server process (only it may open the chDB
directory).  The API records each job in the metadata DB; the CLI submits and
polls.  Reprice is the first; backfills and replays will follow."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.pricing import Pricer
from storage.clickhouse import reprice
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.rollups import Rollups
from storage.clickhouse.tables import Tables
from storage.metadata.repo import MetadataRepo

log = logging.getLogger(__name__)


def _fields(row: dict[str, Any]) -> GenAIFields:
    usage = TokenUsage(
        input_tokens=row["uncached_input_tokens"],
        output_tokens=row["output_text_tokens"],
        cache_read_tokens=row["cache_read_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
        reasoning_tokens=row["reasoning_tokens"],
        input_includes_cache=False,
        output_includes_reasoning=False,
    )
    return GenAIFields(
        span_type=SpanType(row["span_type"]),
        provider=row["provider"] or None,
        request_model=row["request_model"] or None,
        response_model=row["response_model"] or None,
        usage=usage,
        counts_usage=bool(row["counts_usage"]),
    )


def run_reprice(
    target: ClickHouseTarget, repo: MetadataRepo, pricer: Pricer, job_id: str, project_id: str, start_ns: int, end_ns: int
) -> dict[str, Any]:
    client = connect(target)
    tables = Tables.for_cluster(target.cluster)
    try:
        before = reprice.totals(client, tables, project_id, start_ns, end_ns)
        total = max(before["calls"], 1)
        changed = seen = 0
        for block in reprice.iter_usage(client, tables, project_id, start_ns, end_ns):
            cols: dict[str, list[Any]] = {c: [] for c in ("trace_id", "span_id", *reprice.COST_COLUMNS)}
            for row in block:
                cost = pricer.price(_fields(row), project_id=project_id, start_ns=row["start_ns"])
                if cost.total == row["cost_total"] and cost.status != "":
                    continue
                cols["trace_id"].append(row["trace_id"])
                cols["span_id"].append(row["span_id"])
                for name, value in (
                    ("cost_input", cost.input), ("cost_cache_read", cost.cache_read),
                    ("cost_cache_write", cost.cache_write), ("cost_output", cost.output),
                    ("cost_reasoning", cost.reasoning), ("cost_total", cost.total),
                    ("price_status", cost.status), ("price_source", cost.source), ("price_version", cost.version),
                ):  # fmt: skip
                    cols[name].append(value)
            changed += reprice.apply_costs(client, tables, project_id, start_ns, end_ns, cols)
            seen += len(block)
            repo.update_job_progress(job_id, min(seen / total, 0.99))
        after = reprice.totals(client, tables, project_id, start_ns, end_ns)
    finally:
        client.close()

    def money(v: Decimal) -> str:
        return format(Decimal(v).normalize(), "f")

    return {
        "spans_examined": seen,
        "spans_changed": changed,
        "before": {"calls": before["calls"], "priced": before["priced"], "cost_total": money(before["cost_total"])},
        "after": {"calls": after["calls"], "priced": after["priced"], "cost_total": money(after["cost_total"])},
    }


async def reprice_job(
    target: ClickHouseTarget,
    repo: MetadataRepo,
    pricer: Pricer,
    rollups: Rollups,
    job_id: str,
    project_id: str,
    start_ns: int,
    end_ns: int,
) -> None:
    try:
        await asyncio.to_thread(repo.update_job_progress, job_id, 0.0)
        result = await asyncio.to_thread(run_reprice, target, repo, pricer, job_id, project_id, start_ns, end_ns)
        rollups.mark(project_id, start_ns, end_ns)  # costs changed: re-aggregate those minutes
    except Exception as exc:  # noqa: BLE001 - a job failure is recorded, not raised
        log.exception("reprice job %s failed", job_id)
        await asyncio.to_thread(repo.finish_job, job_id, "failed", None, f"{type(exc).__name__}: {exc}")
        return
    await asyncio.to_thread(repo.finish_job, job_id, "succeeded", result)
