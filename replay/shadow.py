"""Shadow traffic: keep replaying newly ingested LLM calls against candidate
variants in the background and compare them over rolling windows.

The loop polls for calls that started after the last one it saw (so it only
ever looks at new traffic), keeps a deterministic fraction of them (a hash of
the span id, so two servers sharing a database pick the same calls), caps the
rate, replays them with the same code as a run, and closes a window report
every `window_seconds`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field, replace

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


@dataclass(slots=True)
class ShadowStats:
    seen: int = 0
    sampled: int = 0
    dropped_by_rate_cap: int = 0
    replayed: int = 0
    windows: int = 0
    last_verdict: str | None = None
    last_error: str | None = None
    recent: list[float] = field(default_factory=list)  # monotonic times of replayed calls (rate cap)


def sampled(span_id: str, rate: float) -> bool:
    return int.from_bytes(hashlib.sha256(span_id.encode()).digest()[:8], "big") / 2**64 < rate


class ShadowLoop:
    def __init__(self, ctx: runner.RunContext, selection: Selection, cfg: ShadowConfig) -> None:
        self.ctx, self.selection, self.cfg = ctx, selection, cfg
        self.stats = ShadowStats()
        self._stop = asyncio.Event()
        self._after_ns = time.time_ns()
        self._window_start_ns = self._after_ns

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
        if time.time_ns() - self._window_start_ns >= self.cfg.window_seconds * 1e9:
            await self.close_window()

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
        await self.close_window()
