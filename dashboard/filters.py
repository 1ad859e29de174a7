"""The filters every page shares (time range, service, model, provider, user,
session, status, attribute, text), kept in the URL so any view can be linked.

Values are checked here before any API call, and a bad one is reported with
an example of a good one, so the page never sends a request it knows the
API would refuse.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from dashboard.api import Params, params

RANGES = {
    "1h": ("Last hour", 3600),
    "24h": ("Last 24 hours", 86400),
    "7d": ("Last 7 days", 7 * 86400),
    "30d": ("Last 30 days", 30 * 86400),
    "yesterday": ("Yesterday (UTC)", 86400),
    "custom": ("Custom range", 0),
}
STATUSES = {"": "any", "ok": "ok", "error": "error"}
TEXT_FIELDS = ("service", "model", "provider", "user_id", "session_id", "attr", "q")
_ATTR = re.compile(r"^[A-Za-z0-9_.\-/:]{1,200}=.*$")


@dataclass(frozen=True, slots=True)
class Filters:
    range: str = "24h"
    start: str = ""
    end: str = ""
    service: str = ""
    model: str = ""
    provider: str = ""
    user_id: str = ""
    session_id: str = ""
    status: str = ""
    attr: str = ""
    q: str = ""
    errors: tuple[str, ...] = field(default=())

    def window(self, now_s: float | None = None) -> tuple[int, int]:
        """(start, end) in unix seconds.  Relative ranges end at the next
        whole minute, so reruns within a minute ask the same question (and
        hit the cache)."""
        now = int(now_s if now_s is not None else time.time())
        end_min = (now // 60 + 1) * 60
        if self.range == "custom":
            return _parse(self.start), _parse(self.end)
        if self.range == "yesterday":
            today = datetime.fromtimestamp(now, tz=timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            y = today - timedelta(days=1)
            return int(y.timestamp()), int(today.timestamp())
        return end_min - RANGES[self.range][1], end_min

    def api(self, now_s: float | None = None, **extra: object) -> Params:
        start, end = self.window(now_s)
        base: dict[str, object] = dict(
            start=start, end=end, service=self.service, model=self.model, provider=self.provider,
            user_id=self.user_id, session_id=self.session_id, status=self.status,
            attr=[self.attr] if self.attr else None, q=self.q,
        )  # fmt: skip
        return params(**{**base, **extra})  # a page's own value wins over the sidebar's

    def label(self) -> str:
        if self.range == "custom":
            return f"{self.start} → {self.end}"
        return RANGES[self.range][0].lower()


def _parse(value: str) -> int:
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def validate(raw: dict[str, str]) -> Filters:
    """Filters from raw strings (URL or widgets); problems go to `errors`,
    each with a hint, and the offending value is left out."""
    errors: list[str] = []
    values = {k: (raw.get(k) or "").strip() for k in ("range", "start", "end", "status", *TEXT_FIELDS)}
    if values["range"] not in RANGES:
        if values["range"]:
            errors.append(f"time range {values['range']!r} is unknown: use one of {', '.join(RANGES)}")
        values["range"] = "24h"
    if values["range"] == "custom":
        parsed = {}
        for k in ("start", "end"):
            try:
                parsed[k] = _parse(values[k])
            except ValueError:
                errors.append(f"{k} {values[k]!r} is not a time: write it like 2026-11-24T09:00 (UTC)")
        if len(parsed) == 2 and parsed["start"] >= parsed["end"]:
            errors.append("start must be before end")
        if errors:
            values["range"] = "24h"
    if values["status"] not in STATUSES:
        errors.append(f"status {values['status']!r} is unknown: use ok or error")
        values["status"] = ""
    if values["attr"] and not _ATTR.match(values["attr"]):
        errors.append(f"attribute filter {values['attr']!r} must look like key=value, e.g. app.feature=search")
        values["attr"] = ""
    if len(values["q"]) > 500:
        errors.append("search text is limited to 500 characters")
        values["q"] = values["q"][:500]
    return Filters(**values, errors=tuple(errors))


def to_query(f: Filters) -> dict[str, str]:
    """Only what differs from the defaults, for a short URL."""
    out = {} if f.range == "24h" else {"range": f.range}
    if f.range == "custom":
        out.update(start=f.start, end=f.end)
    for k in ("status", *TEXT_FIELDS):
        v = getattr(f, k)
        if v:
            out[k] = v
    return out
