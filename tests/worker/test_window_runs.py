"""The worker's path for window evaluators (drift): it compares the previous
window with the current one and stores one row per feature, with the p-value
as score, in the evaluations table.

The drift scorers themselves are built on the evaluators branch; the
comparison here is a small but real one (a permutation test on output token
counts), enough to drive the worker's plumbing end to end."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from statistics import mean

import orjson

from evaluators.base import DriftResult, SpanRecord, WindowEvaluator
from evaluators.worker.runner import ConfigRunner, RunnerOptions
from storage.clickhouse import migrate
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.evaluation_queries import EvaluationQueries
from storage.metadata.evaluation_repo import EvaluationRepo, RunCounts
from storage.metadata.repo import MetadataRepo


class TokenShift:
    name = "token_shift"
    version = "1"

    def compare(self, baseline: Sequence[SpanRecord], current: Sequence[SpanRecord]) -> list[DriftResult]:
        a, b = [s.output_tokens for s in baseline], [s.output_tokens for s in current]
        observed = abs(mean(a) - mean(b))
        pooled, rng, hits = a + b, random.Random(0), 0
        for _ in range(200):
            rng.shuffle(pooled)
            hits += abs(mean(pooled[: len(a)]) - mean(pooled[len(a):])) >= observed
        p = (hits + 1) / 201
        return [DriftResult("output_tokens", "numeric", "permutation", observed, p, observed / (mean(a) or 1),
                            p < 0.01, len(a), len(b))]  # fmt: skip


def test_window_evaluator_rows(local_chdb, repo: MetadataRepo, engine):
    assert isinstance(TokenShift(), WindowEvaluator)
    db = f"win_{uuid.uuid4().hex[:8]}"
    client = connect(local_chdb)
    migrate.upgrade(client, migrate.SchemaOptions(database=db))
    client.database = db
    now = time.time_ns()
    rows = []
    for i in range(60):  # baseline: ~100 output tokens; current: ~300
        for window, tokens in ((2, 100), (1, 300)):
            start = now - window * 3000 * 10**9 + (i + 10) * 10**9  # well inside the window
            rows.append(["p", start, start + 10**6, uuid.uuid4().hex, uuid.uuid4().hex[:16], "llm", "chat", "m1",
                         tokens + i % 7, orjson.dumps([]).decode(), now // 1000, now, 30])  # fmt: skip
    client.insert("spans", rows, column_names=["project_id", "start_time", "end_time", "trace_id", "span_id",
                                               "span_type", "service_name", "model", "output_text_tokens",
                                               "output_messages", "ingested_at", "version", "retention_days"])  # fmt: skip
    repo.create_project("p")
    evals = EvaluationRepo(engine)
    cfg = evals.create_config("p", name="shift", evaluator="drift", schedule="5m", filters={"model": "m1"},
                              params={"window_seconds": 3000})  # fmt: skip
    runner = ConfigRunner(EvaluationQueries(client), evals, RunnerOptions(), lambda _c: TokenShift())
    counts = RunCounts()
    assert runner.run_incremental(cfg, counts) is True
    assert counts.results_written == 1
    series = EvaluationQueries(client).drift_series("p", now - 10**12, now + 10**12, evaluator="token_shift")
    client.close()
    assert len(series) == 1
    row = series[0]
    assert row["feature"] == "output_tokens" and row["model"] == "m1" and row["label"] == "drift"
    assert row["p_value"] < 0.01
    details = orjson.loads(row["details"])
    assert details["baseline_n"] == 60 and details["current_n"] == 60 and details["effect_size"] > 1.5
