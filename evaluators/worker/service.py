"""The evaluation worker: claims due evaluator configs and runs them as
asyncio tasks, a bounded number at a time.

In the embedded default it runs inside `llmobs up` (the only process that may
open the chDB directory); against a ClickHouse server it can also run as its
own process (`llmobs worker`), as many replicas as wanted: every claim goes
through the metadata DB (see `EvaluationRepo.claim_due`), so each due run
happens once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from evaluators import registry
from evaluators.base import SpanEvaluator, WindowEvaluator
from evaluators.worker.runner import ConfigRunner, OnResults, RunnerOptions
from storage.clickhouse.evaluation_queries import EvaluationQueries
from storage.clickhouse.tables import Tables
from storage.metadata.evaluation_repo import EvaluationRepo, EvaluatorConfig, RunCounts
from storage.metadata.repo import MetadataRepo

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class ScorerCache:
    """Built scorers by (evaluator, params): models load once per process
    (the scheduled runs and the streaming scorer share them, hence the lock)."""

    _built: dict[tuple[str, str], SpanEvaluator | WindowEvaluator] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, config: EvaluatorConfig) -> SpanEvaluator | WindowEvaluator:
        import orjson

        key = (config.evaluator, orjson.dumps(config.params, option=orjson.OPT_SORT_KEYS).decode())
        with self._lock:
            if key not in self._built:
                self._built[key] = registry.build(config.evaluator, config.params)
            return self._built[key]


class EvaluationWorker:
    def __init__(
        self, client_factory: Callable[[], Client], tables: Tables, repo: EvaluationRepo, options: RunnerOptions,
        *, concurrency: int = 2, lease_seconds: float = 300.0, poll_seconds: float = 1.0, name: str | None = None,
    ) -> None:  # fmt: skip
        self._factory = client_factory
        self._tables = tables
        self.repo = repo
        self.options = options
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.name = name or worker_id()
        self.scorers = ScorerCache()
        # Told about every batch of scores written (the /metrics score summaries).
        self.on_results: OnResults | None = None
        # config id -> since when (unix us) the streaming scorer of this process scores it
        self.stream_since: Callable[[int], int | None] | None = None

    @property
    def client_factory(self) -> Callable[[], Client]:
        return self._factory

    def _runner(self, client: Client) -> ConfigRunner:
        return ConfigRunner(EvaluationQueries(client, self._tables), self.repo, self.options, self.scorers.get,
                            self.on_results, self.stream_since)

    def run_config(self, config: EvaluatorConfig, kind: str = "scheduled") -> int:
        """Blocking: one run of a claimed config, recorded in the run history."""
        started = time.monotonic()
        counts = RunCounts()
        version = ""
        run_id = None
        caught_up = True
        client = self._factory()
        try:
            scorer = self.scorers.get(config)
            version = scorer.version
            run_id = self.repo.start_run(config, kind, self.name, version)
            runner = self._runner(client)
            caught_up = runner.run_incremental(
                config, counts, on_page=lambda: self.repo.extend_lease(config.id, self.name, self.lease_seconds)
            )
            status, error = "succeeded", None
        except Exception as exc:  # noqa: BLE001 - recorded in the run history; the next run retries
            log.exception("evaluator config %s (%s) failed", config.id, config.evaluator)
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            if run_id is None:
                run_id = self.repo.start_run(config, kind, self.name, version)
        finally:
            client.close()
        self.repo.finish_run(run_id, status, counts, (time.monotonic() - started) * 1000, error)
        self.repo.release(config.id, self.name, run_again_now=not caught_up)
        return run_id

    def run_due(self) -> list[int]:
        """Blocking: claim and run every due config once (tests and `--once`)."""
        ran = []
        while claimed := self.repo.claim_due(self.name, lease_seconds=self.lease_seconds, limit=self.concurrency):
            ran += [self.run_config(c) for c in claimed]
        return ran

    async def serve(self, stop: asyncio.Event) -> None:
        """Poll for due configs until `stop`; at most `concurrency` runs at once."""
        running: set[asyncio.Task] = set()
        while not stop.is_set():
            free = self.concurrency - len(running)
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(
                        self.repo.claim_due, self.name, lease_seconds=self.lease_seconds, limit=free
                    )
                except Exception:  # noqa: BLE001 - metadata DB hiccup: try again next poll
                    log.exception("claiming evaluator runs failed")
                    claimed = []
                for config in claimed:
                    task = asyncio.create_task(asyncio.to_thread(self.run_config, config))
                    running.add(task)
                    task.add_done_callback(running.discard)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def backfill(
    client_factory: Callable[[], Client], tables: Tables, eval_repo: EvaluationRepo, jobs: MetadataRepo,
    options: RunnerOptions, scorers: ScorerCache, job_id: str, config: EvaluatorConfig, since_ns: int, until_ns: int,
    name: str,
) -> None:  # fmt: skip
    """Blocking: a backfill job; progress and outcome go to the jobs table,
    the counts to the run history as a 'backfill' run."""
    started = time.monotonic()
    counts = RunCounts()
    client = client_factory()
    run_id = None
    try:
        jobs.update_job_progress(job_id, 0.0)
        scorer = scorers.get(config)
        run_id = eval_repo.start_run(config, "backfill", name, scorer.version)
        runner = ConfigRunner(EvaluationQueries(client, tables), eval_repo, options, scorers.get)
        runner.run_backfill(config, since_ns, until_ns, counts, lambda p: jobs.update_job_progress(job_id, p))
    except Exception as exc:  # noqa: BLE001 - a job failure is recorded, not raised
        log.exception("backfill job %s failed", job_id)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if run_id is not None:
            eval_repo.finish_run(run_id, "failed", counts, (time.monotonic() - started) * 1000, error)
        jobs.finish_job(job_id, "failed", None, error)
        return
    finally:
        client.close()
    eval_repo.finish_run(run_id, "succeeded", counts, (time.monotonic() - started) * 1000)
    jobs.finish_job(job_id, "succeeded", {"spans_read": counts.spans_read, "spans_scored": counts.spans_scored,
                                          "results_written": counts.results_written, "run_id": run_id})  # fmt: skip
