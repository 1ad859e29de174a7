"""Replay runs and the shadow loop as server-side jobs.

They run inside the server because only this process may open the embedded
ClickHouse directory.  This module is the glue between `replay/` (which knows
nothing of the collector) and the server's parts: a ClickHouse client for
the replay store, the ingestor (replayed calls are exported as OTLP spans
into the project, like any traffic), the pricer and the jobs table.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from collector.normalize.canonical import GenAIFields, SpanType, TokenUsage
from collector.otlp.decode import PROTOBUF
from collector.otlp.errors import IngestError
from collector.server import App
from replay import runner, shadow
from replay.config import ReplaySpec
from storage.clickhouse.client import connect
from storage.clickhouse.queries import SpanFilter
from storage.clickhouse.replay_queries import ReplayStore, Selection
from storage.metadata.replay_repo import ReplayRepo

log = logging.getLogger(__name__)


def selection_from(project_id: str, params: dict[str, Any]) -> Selection:
    f = params["filter"]
    return Selection(
        filter=SpanFilter(
            project_id=project_id, start_ns=f["start_ns"], end_ns=f["end_ns"], service=f.get("service"),
            model=f.get("model"), provider=f.get("provider"), user_id=f.get("user_id"),
            session_id=f.get("session_id"), attributes=f.get("attributes") or {}, text=f.get("text"),
            status=f.get("status"),
        ),
        limit=params.get("limit", 100), stratify_by=params.get("stratify_by"), seed=params.get("seed", 0),
    )  # fmt: skip


def _pricer(app: App, project_id: str):  # type: ignore[no-untyped-def]
    def price(model: str, input_tokens: int, output_tokens: int, start_ns: int) -> float | None:
        fields = GenAIFields(
            span_type=SpanType.LLM, request_model=model, response_model=model,
            usage=TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens),
        )  # fmt: skip
        cost = app.pricer.price(fields, project_id=project_id, start_ns=start_ns)
        return None if cost.total is None else float(cost.total)

    return price


def _context(app: App, store: ReplayStore, project_id: str, run_id: str, spec: ReplaySpec,
             job_id: str | None) -> runner.RunContext:  # fmt: skip
    async def export(payload: bytes) -> None:
        try:
            await app.ingestor.export("traces", payload, None, PROTOBUF, project_id)
        except IngestError as exc:
            log.warning("replay spans of run %s not ingested: %s", run_id, exc)

    async def progress(value: float) -> None:
        if job_id is not None:
            await asyncio.to_thread(app.repo.update_job_progress, job_id, value)

    return runner.RunContext(project_id, run_id, spec, store, export, progress, _pricer(app, project_id))


async def replay_job(app: App, replay_repo: ReplayRepo, job_id: str, project_id: str, run_id: str) -> None:
    client = None
    try:
        run = await asyncio.to_thread(replay_repo.get_run, project_id, run_id)
        if run is None:
            raise LookupError(f"replay run {run_id} vanished")
        spec = ReplaySpec.model_validate(run.variants)
        await asyncio.to_thread(app.repo.update_job_progress, job_id, 0.0)
        client = await asyncio.to_thread(connect, app.target)
        store = ReplayStore.for_cluster(client, app.target.cluster)
        report = await runner.run(_context(app, store, project_id, run_id, spec, job_id),
                                  selection_from(project_id, run.selection))  # fmt: skip
        summary = _summary(report)
        await asyncio.to_thread(replay_repo.set_summary, run_id, summary)
    except Exception as exc:  # noqa: BLE001 - a job failure is recorded, not raised
        log.exception("replay job %s failed", job_id)
        await asyncio.to_thread(app.repo.finish_job, job_id, "failed", None, f"{type(exc).__name__}: {exc}")
        return
    finally:
        if client is not None:
            client.close()
    await asyncio.to_thread(app.repo.finish_job, job_id, "succeeded", summary)


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": report["run_id"],
        "verdict": report["verdict"],
        "selected": report["selected"],
        "replayable": report["replayable"],
        "unreplayable": report["unreplayable"],
        "variants": {
            name: {k: v.get(k) for k in ("requests", "ok", "errors")} | {"verdict": (v.get("verdict") or {}).get("status")}
            for name, v in report["variants"].items()
        },
    }


class ShadowLoops:
    """The shadow loops running in this server, by run id.  Owned by the
    replay router's state (one per app), never module-global."""

    def __init__(self) -> None:
        self.loops: dict[str, tuple[shadow.ShadowLoop, asyncio.Task]] = {}

    async def start(self, app: App, project_id: str, run_id: str, spec: ReplaySpec, params: dict[str, Any]) -> None:
        client = await asyncio.to_thread(connect, app.target)
        store = ReplayStore.for_cluster(client, app.target.cluster)
        ctx = _context(app, store, project_id, run_id, spec, None)
        cfg = shadow.ShadowConfig(**params["shadow"])
        loop = shadow.ShadowLoop(ctx, selection_from(project_id, params), cfg)

        async def main() -> None:
            try:
                await loop.run()
            finally:
                await asyncio.to_thread(client.close)

        self.loops[run_id] = (loop, app.spawn(main()))

    def status(self, run_id: str) -> dict[str, Any] | None:
        entry = self.loops.get(run_id)
        if entry is None:
            return None
        loop, task = entry
        return {"running": not task.done(), **asdict(loop.stats)}

    async def stop(self, run_id: str) -> bool:
        entry = self.loops.pop(run_id, None)
        if entry is None:
            return False
        loop, task = entry
        loop.stop()
        await asyncio.gather(task, return_exceptions=True)
        return True
