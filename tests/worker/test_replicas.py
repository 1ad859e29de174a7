"""Several worker replicas on one ClickHouse and one PostgreSQL: every due
run happens once, every span is scored once per evaluator version.

The replicas are two EvaluationWorker instances in this process (each with
its own clients and its own name), sharing the embedded engine (chDB allows
one process per directory, so two processes cannot share it here) and a real
PostgreSQL database, polling at the same time."""

from __future__ import annotations

import threading
import time
import uuid

import orjson
import pytest

from evaluators.worker.runner import RunnerOptions
from evaluators.worker.service import EvaluationWorker
from storage.clickhouse import migrate
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.tables import Tables
from storage.metadata.evaluation_repo import EvaluationRepo, immediate_sqlite_transactions
from storage.metadata.repo import MetadataRepo

COLUMNS = ["project_id", "start_time", "end_time", "trace_id", "span_id", "span_type", "service_name", "model",
           "output_messages", "finish_reasons", "ingested_at", "version", "retention_days"]  # fmt: skip


@pytest.fixture(scope="module")
def chdb_db(local_chdb):
    """A fresh ClickHouse database on the embedded engine, migrated."""
    name = f"replicas_{uuid.uuid4().hex[:8]}"
    client = connect(local_chdb)
    migrate.upgrade(client, migrate.SchemaOptions(database=name))
    client.close()
    return ClickHouseTarget(local_chdb.dsn, None, name)


def insert_spans(target: ClickHouseTarget, project: str, n: int, service: str) -> list[str]:
    now = time.time_ns() - 10 * 10**9
    rows, ids = [], []
    for i in range(n):
        text = "" if i % 3 == 0 else f"answer {i}"
        out = orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}]).decode()
        sid = uuid.uuid4().hex[:16]
        ids.append(sid)
        rows.append([project, now + i, now + i + 10**6, uuid.uuid4().hex, sid, "llm", service, "gpt-4o", out, [],
                     time.time_ns() // 1000, now, 30])  # fmt: skip (ingested_at: DateTime64(6) ticks)
    client = connect(target)
    try:
        client.insert("spans", rows, column_names=COLUMNS)
    finally:
        client.close()
    return ids


def test_two_replicas_run_each_job_once(db_url, chdb_db):
    """On PostgreSQL (SKIP LOCKED + lease) and on SQLite (the embedded
    default, where the worker's transactions take the write lock up front)."""
    from storage.metadata.db import make_engine, upgrade

    engine = immediate_sqlite_transactions(make_engine(db_url))
    upgrade(engine)
    project = f"acme{uuid.uuid4().hex[:6]}"
    MetadataRepo(engine).create_project(project)
    evals = EvaluationRepo(engine)
    configs = []
    for i in range(6):
        service = f"svc-{i}"
        insert_spans(chdb_db, project, 30, service)
        configs.append(evals.create_config(project, name=f"h{i}", evaluator="heuristics", schedule="1h",
                                           filters={"service": service}))  # fmt: skip
    options = RunnerOptions(batch_spans=7, max_pages=100, settle_seconds=0, retries=2)
    replicas = [
        EvaluationWorker(lambda: connect(chdb_db), Tables(),
                         EvaluationRepo(immediate_sqlite_transactions(make_engine(db_url))), options,
                         concurrency=2, name=f"replica-{k}")  # fmt: skip
        for k in range(2)
    ]
    ran: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def work(w: EvaluationWorker) -> None:
        barrier.wait()
        ran[w.name] = w.run_due()

    threads = [threading.Thread(target=work, args=(w,)) for w in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    history = evals.list_runs(project, limit=1000)
    assert len(history) == 6 and sorted(r.config_id for r in history) == sorted(c.id for c in configs)
    assert {r.status for r in history} == {"succeeded"}
    assert [(r.spans_read, r.results_written) for r in history] == [(30, 90)] * 6
    assert sum(len(v) for v in ran.values()) == 6
    # Both replicas took part (each claims at most `concurrency` configs at a time).
    assert all(ran[w.name] for w in replicas)
    client = connect(chdb_db)
    try:
        stored = client.query("SELECT count(), uniqExact(span_id) FROM evaluations WHERE project_id = {p:String}",
                              parameters={"p": project}).result_rows[0]
    finally:
        client.close()
    assert stored == (6 * 30 * 3, 6 * 30)
    # Nothing is due any more: the next runs wait for the schedule (1 h).
    assert replicas[0].run_due() == [] and replicas[1].run_due() == []
    for cfg in evals.list_configs(project):
        assert cfg.next_run_at is not None and cfg.next_run_at.timestamp() > time.time() + 3500
    engine.dispose()


def test_watermark_scores_each_span_once_per_version(repo, engine, chdb_db):
    """A second run reads nothing; a new evaluator version starts from scratch."""
    repo.create_project("wm")
    evals = EvaluationRepo(engine)
    service = f"wm-{uuid.uuid4().hex[:6]}"
    insert_spans(chdb_db, "wm", 12, service)
    cfg = evals.create_config("wm", name="h", evaluator="heuristics", schedule="1s", filters={"service": service})
    worker = EvaluationWorker(lambda: connect(chdb_db), Tables(), evals,
                              RunnerOptions(batch_spans=5, settle_seconds=0), name="solo")  # fmt: skip
    first = worker.run_due()
    assert len(first) == 1
    run = evals.list_runs("wm")[0]
    assert (run.spans_read, run.spans_scored, run.results_written) == (12, 12, 36)
    wm = evals.watermark(cfg.id, "2")
    assert wm.ingested_us > 0
    time.sleep(1.1)
    assert len(worker.run_due()) == 1
    assert evals.list_runs("wm")[0].spans_read == 0
    insert_spans(chdb_db, "wm", 4, service)
    time.sleep(1.1)
    worker.run_due()
    assert evals.list_runs("wm")[0].spans_read == 4
    # Another evaluator version has its own watermark.
    assert evals.watermark(cfg.id, "3").ingested_us == 0


def test_a_failing_scorer_is_retried_then_recorded(repo, engine, chdb_db):
    """Bad scorer params fail the run with the scorer's message; the
    watermark stays, so fixing the config scores the spans after all."""
    repo.create_project("fails")
    evals = EvaluationRepo(engine)
    service = f"f-{uuid.uuid4().hex[:6]}"
    insert_spans(chdb_db, "fails", 3, service)
    cfg = evals.create_config("fails", name="h", evaluator="heuristics", schedule="1s",
                              params={"checks": ["no_such_check"]}, filters={"service": service})  # fmt: skip
    worker = EvaluationWorker(lambda: connect(chdb_db), Tables(), evals, RunnerOptions(settle_seconds=0), name="w")
    worker.run_due()
    run = evals.list_runs("fails")[0]
    assert run.status == "failed" and "unknown heuristics checks ['no_such_check']" in (run.error or "")
    evals.update_config("fails", cfg.id, {"params": {}})
    worker.run_due()
    run = evals.list_runs("fails")[0]
    assert run.status == "succeeded" and run.spans_read == 3
