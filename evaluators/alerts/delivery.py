"""Sends the outbox: signed JSON webhooks, Slack messages and alerts posted to
an Alertmanager's API, with retries.

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
from datetime import UTC, datetime, timedelta
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
    public_url: str = "http://127.0.0.1:8700"  # where links in notifications point (Alertmanager's generatorURL)


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


ALERTMANAGER_PATH = "/api/v2/alerts"
FIRING_HORIZON = timedelta(hours=24)


def alertmanager_url(url: str) -> str:
    """A hook may name the Alertmanager (http://am:9093) or its alerts API."""
    return url if url.rstrip("/").endswith(ALERTMANAGER_PATH) else url.rstrip("/") + ALERTMANAGER_PATH


def alertmanager_alerts(payload: dict[str, Any], public_url: str) -> list[dict[str, Any]]:
    """One notification as Alertmanager's API v2 wants it: a list of alerts
    with labels (what identifies the alert: the same on firing and resolved,
    so Alertmanager matches them), annotations (what a human reads),
    startsAt/endsAt and a generatorURL back to llmobs.  A firing alert is
    sent once (not re-sent like Prometheus does), so its endsAt lies
    FIRING_HORIZON ahead; the resolve notification ends it at once."""
    at = datetime.fromisoformat(payload["at"]) if payload.get("at") else datetime.now(UTC)
    kind = payload.get("kind", "alert")
    labels = {"alertname": str(payload.get("title") or kind), "project": str(payload.get("project", "")),
              "source": "llmobs", "kind": kind}  # fmt: skip
    rule = payload.get("rule") or {}
    if rule:
        labels["alertname"] = str(rule.get("name"))
        labels["metric"] = str(rule.get("metric"))
        labels["severity"] = str((rule.get("params") or {}).get("severity") or "warning")
        if rule.get("group_by") and payload.get("group") is not None:
            labels[str(rule["group_by"]).replace("attr:", "attr_").replace(".", "_")] = str(payload["group"])
    budget = payload.get("budget") or {}
    if budget:
        labels.update(alertname=f"budget {budget.get('name')}", severity="warning", status=str(payload.get("status")))
    resolved = payload.get("status") == "resolved"
    annotations = {"summary": slack_text(payload).replace("*", "")}
    for key in ("value", "threshold", "observed", "baseline", "samples"):
        if payload.get(key) is not None:
            annotations[key] = f"{payload[key]:.6g}" if isinstance(payload[key], float) else str(payload[key])
    ends = at if resolved else at + (timedelta(hours=1) if budget or kind == "test" else FIRING_HORIZON)
    return [{
        "labels": labels, "annotations": annotations, "startsAt": at.isoformat(), "endsAt": ends.isoformat(),
        "generatorURL": public_url.rstrip("/") + str(payload.get("link") or "/api/v1/alerts/events"),
    }]  # fmt: skip


def request_for(target: DeliveryTarget, public_url: str = "http://127.0.0.1:8700") -> tuple[str, bytes, dict[str, str]]:
    """(url, body, headers) of one delivery in the hook's format."""
    if target.kind == "slack":
        body = orjson.dumps({"text": slack_text(target.payload)})
        return target.url, body, {"Content-Type": "application/json"}
    if target.kind == "alertmanager":
        body = orjson.dumps(alertmanager_alerts(target.payload, public_url))
        return alertmanager_url(target.url), body, {"Content-Type": "application/json", "User-Agent": "llmobs-webhook/1"}
    body = orjson.dumps(target.payload)
    return target.url, body, {
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
        url, body, hdrs = request_for(target, self.opt.public_url)
        code: int | None = None
        try:
            resp = await client.post(url, content=body, headers=hdrs, timeout=self.opt.timeout_seconds)
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
