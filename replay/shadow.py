"""Shadow traffic: keep replaying newly ingested LLM calls against candidate
variants in the background and compare them over rolling windows.

The loop polls for calls that started after the last one it saw (so it only
ever looks at new traffic), keeps a deterministic fraction of them (a hash of
the span id, so two servers sharing a database pick the same calls), caps the
rate, replays them with the same code as a run, and closes a window report
every `window_seconds`.

Its progress (watermark, open window, counters) goes to `persist` after
every step that changed it, and at least every third of a lease: the server
keeps it in the metadata DB, so a loop restarted after a server restart (or
taken over by another replica) continues from where it stopped.  After
each step that replayed something, the verdict over the last
`alert_window_seconds` (a rolling window) goes to `alert`, which fires the
project's hooks when it turns to fail and resolves them when it passes again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from replay import runner
from storage.clickhouse.replay_queries import Selection

log = logging.getLogger(__name__)


class ShadowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_rate: float = Field(default=1.0, gt=0, le=1, description="fraction of new calls replayed")
    max_per_minute: int = Field(default=60, ge=1, description="rate cap on replayed calls")
    poll_seconds: float = Field(default=2.0, gt=0)
    window_seconds: float = Field(default=300.0, gt=0, description="length of one comparison window")
    alert_hook_ids: list[int] = Field(default_factory=list, description="hooks notified when the verdict fails")
    alert_window_seconds: float | None = Field(default=None, gt=0,
                                               description="rolling window of the alert verdict (default window_seconds)")
    alert_min_requests: int = Field(default=5, ge=1, description="replays the rolling window needs before it is judged")
    alert_cooldown_seconds: float = Field(default=0, ge=0, description="least time between two notifications")


@dataclass(slots=True)
class ShadowStats:
    seen: int = 0
    sampled: int = 0
    dropped_by_rate_cap: int = 0
    replayed: int = 0
    windows: int = 0
    last_verdict: str | None = None
    rolling_verdict: str | None = None
    last_error: str | None = None
    recent: list[float] = field(default_factory=list)  # monotonic times of replayed calls (rate cap)

    def persisted(self) -> dict[str, Any]:
        """What survives a restart (not the rate cap's recent times)."""
        return {k: v for k, v in asdict(self).items() if k != "recent"}

    @classmethod
    def restored(cls, saved: dict[str, Any]) -> "ShadowStats":
        known = set(cls.__dataclass_fields__) - {"recent"}
        return cls(**{k: v for k, v in saved.items() if k in known})


@dataclass(slots=True, frozen=True)
class Checkpoint:
    """A loop's progress: calls that started at or before `after_ns` were seen."""

    after_ns: int
    window_start_ns: int
    stats: dict[str, Any]


PersistFn = Callable[[Checkpoint], Awaitable[bool]]  # False: this loop must stop (stopped elsewhere, lease lost)
AlertFn = Callable[[bool, dict[str, Any]], Awaitable[None]]  # (failing, rolling report)


def sampled(span_id: str, rate: float) -> bool:
    return int.from_bytes(hashlib.sha256(span_id.encode()).digest()[:8], "big") / 2**64 < rate


class ShadowLoop:
    def __init__(self, ctx: runner.RunContext, selection: Selection, cfg: ShadowConfig, *,
                 resume: Checkpoint | None = None, persist: PersistFn | None = None, alert: AlertFn | None = None,
                 persist_every_seconds: float = 10.0) -> None:  # fmt: skip
        self.ctx, self.selection, self.cfg = ctx, selection, cfg
        self.stats = ShadowStats.restored(resume.stats) if resume else ShadowStats()
        self._stop = asyncio.Event()
        self._after_ns = resume.after_ns if resume else time.time_ns()
        self._window_start_ns = resume.window_start_ns if resume else self._after_ns
        self._persist, self._alert = persist, alert
        self._persist_every = persist_every_seconds
        self._persisted_at = time.monotonic()
        self.lost = False  # stopped because persist said so (stopped elsewhere or lease lost)

    def stop(self) -> None:
        self._stop.set()

    def _admit(self, n: int) -> int:
        now = time.monotonic()
        self.stats.recent = [t for t in self.stats.recent if now - t < 60]
        room = max(self.cfg.max_per_minute - len(self.stats.recent), 0)
        take = min(room, n)
        self.stats.recent += [now] * take
        self.stats.dropped_by_rate_cap += n - take
        return take

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self._after_ns, self._window_start_ns, self.stats.persisted())

    async def save(self, force: bool = False) -> None:
        if self._persist is None or not (force or time.monotonic() - self._persisted_at >= self._persist_every):
            return
        self._persisted_at = time.monotonic()
        if not await self._persist(self.checkpoint()):
            log.info("shadow run %s: stopped elsewhere or lease lost; this loop stops", self.ctx.run_id)
            self.lost = True
            self._stop.set()

    async def judge(self) -> None:
        """The verdict over the rolling alert window, handed to `alert`."""
        if self._alert is None:
            return
        end = time.time_ns()
        span = self.cfg.alert_window_seconds or self.cfg.window_seconds
        report = await asyncio.to_thread(runner.window_report, self.ctx, end - int(span * 1e9), end, False)
        if report is None:
            return
        answered = sum(v["ok"] + v["errors"] for v in report["variants"].values())
        if answered < self.cfg.alert_min_requests:
            return
        self.stats.rolling_verdict = report["verdict"]
        await self._alert(report["verdict"] == "fail", report)

    async def step(self) -> None:
        """One poll: pick up new calls, replay the sampled ones, maybe close a window."""
        f = replace(self.selection.filter, start_ns=self._after_ns - 1, end_ns=time.time_ns() + 60 * 10**9)
        new = await asyncio.to_thread(self.ctx.store.new_call_ids, f, self._after_ns, 1000)
        if new:
            self._after_ns = max(s for _, s in new)
            self.stats.seen += len(new)
            ids = [i for i, _ in new if sampled(i, self.cfg.sample_rate)]
            self.stats.sampled += len(ids)
            ids = ids[: self._admit(len(ids))]
            if ids:
                sel = replace(self.selection, filter=f, span_ids=ids, limit=len(ids), stratify_by=None)
                rows = await asyncio.to_thread(self.ctx.store.select_calls, sel)
                prepared = runner.prepare(rows)
                await runner.replay_requests(self.ctx, prepared.requests)
                self.stats.replayed += len(prepared.requests)
                if prepared.requests:
                    await self.judge()
        closing = time.time_ns() - self._window_start_ns >= self.cfg.window_seconds * 1e9
        if closing:
            await self.close_window()
        await self.save(force=bool(new) or closing)

    async def close_window(self) -> None:
        start, end = self._window_start_ns, time.time_ns()
        self._window_start_ns = end
        report = await asyncio.to_thread(runner.window_report, self.ctx, start, end)
        if report is None:
            return
        await asyncio.to_thread(self.ctx.store.write_report, self.ctx.project_id, self.ctx.run_id, start,
                                report["verdict"], report, end)  # fmt: skip
        self.stats.windows += 1
        self.stats.last_verdict = report["verdict"]

    async def run(self) -> None:
        """Until stopped: poll, replay, judge, save.  On `stop()` the open
        window is closed with a report; a cancelled loop (server shutdown)
        leaves it open for the loop that resumes from the checkpoint."""
        while not self._stop.is_set():
            try:
                await self.step()
                self.stats.last_error = None
            except Exception as exc:  # noqa: BLE001 - the loop outlives one bad poll
                log.exception("shadow run %s: poll failed", self.ctx.run_id)
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.cfg.poll_seconds)
            except TimeoutError:
                pass
        if not self.lost:
            await self.close_window()
