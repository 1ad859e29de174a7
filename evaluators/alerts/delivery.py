"""Sends the outbox: signed JSON webhooks and Slack messages, with retries.

Deliveries run on their own asyncio task with a per-request timeout, so a
slow or unreachable receiver delays only its own notifications, never ingest,
scoring or other hooks.  5xx, 429, timeouts and connection errors are retried
with exponential backoff; other 4xx answers are final (the receiver refused
it, sending again would not help).  Every attempt is recorded on the row.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from evaluators.alerts import signing
from storage.metadata.alert_repo import AlertRepo, DeliveryTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    timeout_seconds: float = 5.0
    max_attempts: int = 6
    backoff_seconds: float = 1.0
    batch: int = 20
    poll_seconds: float = 0.5


def slack_text(payload: dict[str, Any]) -> str:
    status = payload.get("status", "")
    icon = {"firing": ":rotating_light:", "resolved": ":white_check_mark:", "test": ":wave:"}.get(status, ":moneybag:")
    subject = payload.get("title") or payload.get("kind", "llmobs")
    value, threshold = payload.get("value"), payload.get("threshold")
    parts = [f"{icon} *{subject}* is {status}" + (f" ({payload['group']})" if payload.get("group") else "")]
    if value is not None:
        parts.append(f"value {value:.6g}" + (f" vs threshold {threshold:.6g}" if threshold is not None else ""))
    parts.append(f"project {payload.get('project', '')}")
    return " - ".join(parts)


def request_for(target: DeliveryTarget) -> tuple[bytes, dict[str, str]]:
    if target.kind == "slack":
        body = orjson.dumps({"text": slack_text(target.payload)})
        return body, {"Content-Type": "application/json"}
    body = orjson.dumps(target.payload)
    return body, {
        "Content-Type": "application/json",
        "User-Agent": "llmobs-webhook/1",
        "X-Llmobs-Delivery": str(target.id),
        "X-Llmobs-Dedupe-Key": target.dedupe_key,
        **signing.headers(target.secret, body),
    }


class Deliverer:
    def __init__(self, repo: AlertRepo, options: DeliveryOptions) -> None:
        self.repo = repo
        self.opt = options

    def _retry_in(self, attempts_so_far: int) -> float | None:
        if attempts_so_far + 1 >= self.opt.max_attempts:
            return None
        return self.opt.backoff_seconds * 2**attempts_so_far

    async def send(self, client: httpx.AsyncClient, target: DeliveryTarget) -> bool:
        body, hdrs = request_for(target)
        code: int | None = None
        try:
            resp = await client.post(target.url, content=body, headers=hdrs, timeout=self.opt.timeout_seconds)
            code = resp.status_code
            ok = 200 <= code < 300
            retryable = code >= 500 or code == 429
            error = None if ok else f"HTTP {code}: {resp.text[:200]}"
        except httpx.HTTPError as exc:
            ok, retryable, error = False, True, f"{type(exc).__name__}: {exc}"
        retry_in = None if ok or not retryable else self._retry_in(target.attempts)
        await asyncio.to_thread(self.repo.record_attempt, target.id, ok=ok, status_code=code, error=error,
                                retry_in=retry_in)  # fmt: skip
        if not ok:
            log.warning("delivery %s to hook %s failed (%s)%s", target.id, target.hook_id, error,
                        "" if retry_in is None else f"; retrying in {retry_in:.1f}s")  # fmt: skip
        return ok

    async def deliver_due(self, client: httpx.AsyncClient, room: int | None = None) -> list[asyncio.Task]:
        """Claim due rows and start sending them; returns the sending tasks."""
        lease = self.opt.timeout_seconds * 2 + 5
        limit = self.opt.batch if room is None else room
        due = await asyncio.to_thread(self.repo.claim_deliveries, limit=limit, lease_seconds=lease)
        return [asyncio.create_task(self.send(client, t)) for t in due]

    async def serve(self, stop: asyncio.Event) -> None:
        """Sends run side by side (up to `batch` at once): a receiver that
        hangs until the timeout holds one slot, not the loop."""
        inflight: set[asyncio.Task] = set()
        async with httpx.AsyncClient(follow_redirects=False) as client:
            while not stop.is_set():
                started: list[asyncio.Task] = []
                room = self.opt.batch - len(inflight)
                if room > 0:
                    try:
                        started = await self.deliver_due(client, room)
                    except Exception:  # noqa: BLE001 - metadata DB hiccup: next round retries
                        log.exception("delivering notifications failed")
                for task in started:
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.05 if started else self.opt.poll_seconds)
                except TimeoutError:
                    pass
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)
