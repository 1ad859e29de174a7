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
import os
import socket
import time
import uuid
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
from storage.metadata.replay_repo import ReplayRepo, ShadowState

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


LEASE_SECONDS = 30.0  # a crashed server's shadow loops move to another server after this
KEEP_SECONDS = 5.0  # how often a server renews its leases and claims orphaned loops


def _alert_value(report: dict[str, Any]) -> tuple[float | None, float, dict[str, Any]]:
    """The failing variants' agreement (the verdict's measure) and reasons."""
    t = report["thresholds"]
    metric = t.get("agreement_metric", "rouge_l")
    failing = {name: v for name, v in report["variants"].items() if (v.get("verdict") or {}).get("status") == "fail"}
    values = [((v.get("vs_baseline") or v.get("vs_production") or {}).get(metric)) for v in failing.values()]
    known = [x for x in values if x is not None]
    details = {
        "run_id": report["run_id"], "metric": metric, "window_start_ns": report["window_start_ns"],
        "window_end_ns": report["window_end_ns"],
        "variants": {name: (v.get("verdict") or {}).get("reasons", []) for name, v in report["variants"].items()},
    }  # fmt: skip
    return (min(known) if known else None), t["min_agreement"], details


class ShadowLoops:
    """The shadow loops running in this server, by run id.  Owned by the
    replay router's state (one per app), never module-global.

    Their configuration is their run (metadata DB) and their progress a
    `replay_shadows` row leased to one server: `keep` renews this server's
    leases and claims loops nobody holds, which restarts every active loop
    when a server starts (a clean stop gives the leases back) and moves a
    crashed server's loops to another replica after LEASE_SECONDS."""

    def __init__(self, repo: ReplayRepo) -> None:
        self.repo = repo
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.loops: dict[str, tuple[shadow.ShadowLoop, asyncio.Task]] = {}
        self._stopping: set[str] = set()  # stopped through the API: marked inactive when the loop ends

    async def start(self, app: App, project_id: str, run_id: str, spec: ReplaySpec, params: dict[str, Any]) -> None:
        """A new shadow loop (its run exists), leased to this server."""
        state = await asyncio.to_thread(self.repo.create_shadow, run_id, self.owner, time.time_ns(), LEASE_SECONDS)
        await self._launch(app, state, spec, params)

    def _alert_fn(self, app: App, project_id: str, run_id: str, cfg: shadow.ShadowConfig) -> shadow.AlertFn | None:
        alerts = getattr(app.worker, "alerts", None)
        if alerts is None:
            return None
        from evaluators.alerts.conditions import report_condition

        async def alert(failing: bool, report: dict[str, Any]) -> None:
            value, threshold, details = _alert_value(report)
            await asyncio.to_thread(
                report_condition, alerts, project_id=project_id, key=f"replay:{run_id}", firing=failing,
                kind="replay_shadow", title=f"shadow replay {run_id}: candidate regression", value=value,
                threshold=threshold, hook_ids=cfg.alert_hook_ids, details=details,
                link=f"/api/v1/replay/runs/{run_id}/reports", cooldown_seconds=cfg.alert_cooldown_seconds,
            )  # fmt: skip

        return alert

    async def _launch(self, app: App, state: ShadowState, spec: ReplaySpec, params: dict[str, Any]) -> None:
        client = await asyncio.to_thread(connect, app.target)
        store = ReplayStore.for_cluster(client, app.target.cluster)
        run_id, project_id = state.run_id, state.project_id
        ctx = _context(app, store, project_id, run_id, spec, None)
        cfg = shadow.ShadowConfig(**params["shadow"])

        async def persist(cp: shadow.Checkpoint) -> bool:
            return await asyncio.to_thread(self.repo.save_shadow, run_id, self.owner, after_ns=cp.after_ns,
                                           window_start_ns=cp.window_start_ns, stats=cp.stats,
                                           lease_seconds=LEASE_SECONDS)  # fmt: skip

        loop = shadow.ShadowLoop(
            ctx, selection_from(project_id, params), cfg,
            resume=shadow.Checkpoint(state.after_ns, state.window_start_ns, state.stats), persist=persist,
            alert=self._alert_fn(app, project_id, run_id, cfg), persist_every_seconds=LEASE_SECONDS / 3,
        )  # fmt: skip

        async def main() -> None:
            try:
                await loop.run()
            finally:
                # Blocking on purpose: this also runs when the server shuts
                # down and cancels its tasks, when no thread may be started.
                # Inactive (stopped) or released in the same step, so no
                # keeper round sees it unleased and active in between.
                client.close()
                try:
                    if run_id in self._stopping:
                        self._stopping.discard(run_id)
                        self.repo.stop_shadow(project_id, run_id)
                    elif not loop.lost:
                        self.repo.release_shadow(run_id, self.owner)
                except Exception:  # noqa: BLE001 - a lease then lapses on its own
                    log.exception("shadow run %s: recording its end failed", run_id)
                if self.loops.get(run_id, (None,))[0] is loop:
                    del self.loops[run_id]

        self.loops[run_id] = (loop, app.spawn(main()))

    async def keep(self, app: App, replay_repo: ReplayRepo) -> None:
        """Forever (a server task): renew this server's leases, stop loops
        that lost theirs, start the active loops nobody holds."""
        while True:
            try:
                held = await asyncio.to_thread(self.repo.renew_shadows, self.owner, list(self.loops), LEASE_SECONDS)
                for run_id in [r for r in self.loops if r not in held]:
                    loop, _ = self.loops[run_id]
                    loop.lost = True
                    loop.stop()
                for state in await asyncio.to_thread(self.repo.claim_shadows, self.owner, LEASE_SECONDS):
                    if state.run_id in self.loops:
                        continue
                    run = await asyncio.to_thread(replay_repo.get_run, state.project_id, state.run_id)
                    if run is None:
                        continue
                    log.info("shadow run %s: resuming from its checkpoint", state.run_id)
                    await self._launch(app, state, ReplaySpec.model_validate(run.variants), run.selection)
            except Exception:  # noqa: BLE001 - the next round retries
                log.exception("shadow keeper round failed")
            await asyncio.sleep(KEEP_SECONDS)

    async def status(self, project_id: str, run_id: str) -> dict[str, Any] | None:
        """Live counters when the loop runs here, else the stored ones; None
        when the run has no shadow loop."""
        state = await asyncio.to_thread(self.repo.get_shadow, project_id, run_id)
        if state is None:
            return None
        entry = self.loops.get(run_id)
        if entry is not None:
            loop, task = entry
            return {"active": state.active, "running": not task.done(), "here": True,
                    **loop.stats.persisted()}  # fmt: skip
        return {"active": state.active, "running": state.lease_owner is not None, "here": False, **state.stats}

    async def stop(self, project_id: str, run_id: str) -> bool:
        """Stop the loop wherever it runs (it closes its window report when
        it runs here); False when there is no active shadow loop."""
        state = await asyncio.to_thread(self.repo.get_shadow, project_id, run_id)
        if state is None or not state.active:
            return False
        entry = self.loops.get(run_id)
        if entry is None:  # another server runs it: it stops at its next lease renewal
            await asyncio.to_thread(self.repo.stop_shadow, project_id, run_id)
            return True
        loop, task = entry
        self._stopping.add(run_id)
        loop.stop()
        await asyncio.gather(task, return_exceptions=True)
        return True
