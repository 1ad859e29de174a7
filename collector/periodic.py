"""Background work the server repeats: rollups, layer reconciliation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def every(interval: float, stop: asyncio.Event, work: Callable[[], object], final: Callable[[], object]) -> None:
    """Run blocking `work` on a thread every `interval` seconds until `stop`
    is set, then `final` once.  A failure is logged and the next round
    retries (the work functions keep what they could not finish)."""
    name = getattr(work, "__qualname__", repr(work))
    while not stop.is_set():
        try:
            await asyncio.to_thread(work)
        except Exception:  # noqa: BLE001 - retried next round
            log.exception("%s failed; retrying in %.1fs", name, interval)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
    try:
        await asyncio.to_thread(final)
    except Exception:  # noqa: BLE001 - shutting down: report, do not mask the exit
        log.exception("final %s failed", name)
