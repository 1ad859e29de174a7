"""Signatures of llmobs webhooks, for senders and receivers.

Each delivery carries `X-Llmobs-Timestamp` (unix seconds) and
`X-Llmobs-Signature: v1=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>`
under the hook's secret.  A receiver recomputes it over the raw bytes it
received, compares in constant time, and refuses a timestamp older than its
tolerance, so a captured request cannot be replayed later.  `verify` does
exactly that and is what receivers written in Python can import.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Llmobs-Timestamp"
SIGNATURE_HEADER = "X-Llmobs-Signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The request is not a genuine, fresh llmobs delivery."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    ts = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify(secret: str, body: bytes, timestamp: str | None, signature: str | None, *,
           tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> None:  # fmt: skip
    """Raise SignatureError unless `signature` is ours and `timestamp` is fresh."""
    if not timestamp or not signature:
        raise SignatureError("missing timestamp or signature header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        raise SignatureError("timestamp outside the tolerance: possible replay")
    if not hmac.compare_digest(sign(secret, ts, body), signature):
        raise SignatureError("signature mismatch")
