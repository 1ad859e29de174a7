"""The streaming scorer's bounded queue and backlog, in process: `offer`
keeps only the contract's columns and drops (counted) past its bound;
scoring takes the newest keys first and leaves stale ones to the scheduled
run (counted)."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry

from evaluators.worker.stream import CONTRACT, SpanStream, StreamMetrics, StreamOptions
from storage.clickhouse.tables import Tables
from storage.metadata.evaluation_repo import EvaluationRepo
from storage.metadata.repo import MetadataRepo
from tests.worker.test_incremental_rules import batch


def no_clickhouse():  # type: ignore[no-untyped-def]
    raise AssertionError("queueing must not touch ClickHouse")


@pytest.fixture
def stream(repo: MetadataRepo, engine) -> SpanStream:  # type: ignore[no-untyped-def]
    repo.create_project("acme")
    evaluations = EvaluationRepo(engine)
    evaluations.create_config("acme", name="pii", evaluator="pii")
    reg = CollectorRegistry()
    s = SpanStream(no_clickhouse, Tables(), evaluations, None, None, None,  # type: ignore[arg-type]
                   StreamOptions(max_queued_spans=10, score_batch_spans=3, stale_seconds=60), StreamMetrics(reg))
    s.registry = reg  # type: ignore[attr-defined]
    s.refresh_configs()  # what the alert thread does before spans reach the backlog
    return s


def value(stream: SpanStream, name: str, **labels: str) -> float:
    return stream.registry.get_sample_value(name, labels) or 0.0  # type: ignore[attr-defined]


def test_offer_keeps_the_contract_and_drops_past_the_bound(stream: SpanStream):
    now = time.time_ns()
    wide = batch(now, [0] * 4).append_column("input_messages", pa.array(["secret"] * 4))
    stream.offer(wide)
    assert stream._queue[0].column_names == list(CONTRACT)  # no content, no attribute maps
    stream.offer(batch(now, [0] * 8))  # 4 + 8 > 10
    assert value(stream, "llmobs_stream_spans_dropped_total", stage="queue") == 8
    assert value(stream, "llmobs_stream_spans_offered_total") == 12
    assert value(stream, "llmobs_stream_queue_spans") == 4


def test_newest_keys_first_and_stale_ones_left_to_the_schedule(stream: SpanStream):
    now = time.time_ns()
    stream._to_backlog(batch(now, [0] * 2, model="old"))
    stream._to_backlog(batch(now, [0] * 2, model="new"))
    assert value(stream, "llmobs_stream_score_backlog_spans") == 4
    at, keys = stream._take()  # type: ignore[misc]
    assert keys.num_rows == 3 and keys.column_names == ["project_id", "trace_id", "span_id", "start_time"]
    assert keys["span_id"].to_pylist() == [f"{i:016x}" for i in (0, 1)] + [f"{1:016x}"]
    # what is left is the oldest key; once stale it goes to the scheduled run
    stream._backlog[0] = (time.monotonic() - 61, stream._backlog[0][1])
    assert stream._take() is None
    assert value(stream, "llmobs_stream_spans_dropped_total", stage="score") == 1
    assert value(stream, "llmobs_stream_score_backlog_spans") == 0
