"""Evaluation worker throughput: spans scored per second by one scheduled
run of the heuristics scorer, through the whole path (keyset page from the
spans table after the watermark, trace context lookup, scoring, insert into
evaluations, watermark update), for several page sizes.

Baseline, measured in the same run: the scorer alone on the same spans
already in memory, so the ratio is the cost of the storage path per span.
The engine is embedded chDB in this process on a fresh temporary directory;
the metadata DB is SQLite.  No test asserts on these numbers.

    python -m bench.worker                  # 20,000 spans, pages of 100 / 500 / 2,000
    python -m bench.worker --spans 5000
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import uuid

import orjson

from evaluators.heuristics import build
from evaluators.worker.runner import ConfigRunner, RunnerOptions, span_record
from storage.clickhouse import migrate
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.evaluation_queries import EvaluationQueries, SpanSelection, Watermark
from storage.metadata.db import make_engine, upgrade
from storage.metadata.evaluation_repo import EvaluationRepo, RunCounts
from storage.metadata.repo import MetadataRepo

ANSWERS = ["Paris is the capital of France.", "", "I'm sorry, but I can't help with that.",
           '{"answer": 42}', "The list goes on and", "Here is a longer answer " * 20]  # fmt: skip
COLUMNS = ["project_id", "start_time", "end_time", "trace_id", "span_id", "span_type", "service_name", "model",
           "output_messages", "finish_reasons", "span_attributes", "output_text_tokens", "ingested_at", "version",
           "retention_days"]  # fmt: skip


def seed(client, project: str, service: str, n: int) -> None:
    now = time.time_ns() - 60 * 10**9
    rows = []
    for i in range(n):
        text = ANSWERS[i % len(ANSWERS)]
        out = orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}]).decode()
        attrs = {"gen_ai.output.type": "json"} if text.startswith("{") else {}
        rows.append([project, now + i * 1000, now + i * 1000 + 10**6, uuid.uuid4().hex, uuid.uuid4().hex[:16], "llm",
                     service, "gpt-4o", out, ["length"] if text.endswith("and") else ["stop"], attrs, 20,
                     time.time_ns() // 1000, now, 30])  # fmt: skip
    for k in range(0, n, 10_000):
        client.insert("spans", rows[k:k + 10_000], column_names=COLUMNS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=20_000)
    ap.add_argument("--pages", default="100,500,2000")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="llmobs-bench-worker-")
    target = ClickHouseTarget(f"chdb://{tmp}/ch")
    client = connect(target)
    migrate.upgrade(client)
    engine = make_engine(f"sqlite:///{tmp}/meta.db")
    upgrade(engine)
    MetadataRepo(engine).create_project("bench")
    evals = EvaluationRepo(engine)
    scorer = build({})
    print(f"machine: {platform.machine()} {platform.python_version()}, spans per run: {args.spans}")

    # Baseline: the scorer alone on records already in memory.
    seed(client, "bench", "baseline", args.spans)
    q = EvaluationQueries(client)
    rows = q.spans_after(SpanSelection("bench", service="baseline"), Watermark(), cutoff_us=time.time_ns() // 1000 + 1,
                         since_ns=0, limit=args.spans)  # fmt: skip
    records = [span_record("bench", r, []) for r in rows]
    t0 = time.perf_counter()
    scorer.evaluate(records)
    base = len(records) / (time.perf_counter() - t0)

    table = [("scorer only, in memory (baseline)", base, 1.0)]
    for page in (int(p) for p in args.pages.split(",")):
        service = f"page-{page}"
        seed(client, "bench", service, args.spans)
        cfg = evals.create_config("bench", name=service, evaluator="heuristics", schedule="1h",
                                  filters={"service": service})  # fmt: skip
        runner = ConfigRunner(q, evals, RunnerOptions(batch_spans=page, max_pages=10**9, settle_seconds=0,
                                                      lookback_seconds=10**6), lambda _c: scorer)  # fmt: skip
        counts = RunCounts()
        t0 = time.perf_counter()
        runner.run_incremental(cfg, counts)
        rate = counts.spans_scored / (time.perf_counter() - t0)
        assert counts.spans_scored == args.spans, counts
        table.append((f"scheduled run, pages of {page}", rate, rate / base))
    client.close()
    print(f"{'path':42}{'spans/s':>12}{'vs baseline':>14}")
    for name, rate, ratio in table:
        print(f"{name:42}{rate:>12,.0f}{ratio:>14.3f}")


if __name__ == "__main__":
    main()
