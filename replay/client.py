"""One replayed chat completion, streamed so time to first token and the
gaps between tokens are measured on the client, as a user would see them.

A failure is a result (`ok=False`, `error`), not an exception, so one bad
request never stops a run.  Transport errors, timeouts, 5xx and streams that
break before `[DONE]` are retried with exponential backoff on the least busy
healthy member; 4xx answers are final (the request itself is wrong).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from replay.pool import NoHealthyMember, Pool


@dataclass(slots=True)
class CallResult:
    ok: bool
    endpoint: str = ""
    error: str = ""
    attempts: int = 0
    started_ns: int = 0  # wall clock, for the exported span
    ttft_ns: int | None = None
    e2e_ns: int = 0
    itl_ns: list[int] = field(default_factory=list)
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    response_id: str = ""
    response_model: str = ""


class RetryableError(Exception):
    def __init__(self, message: str, member_down: bool = False) -> None:
        super().__init__(message)
        self.member_down = member_down  # the server did not answer at all: take it out of the pool


class FinalError(Exception):
    pass


async def _stream_once(http: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any],
                       timeout: float) -> CallResult:  # fmt: skip
    res = CallResult(ok=False, endpoint=url)
    res.started_ns = time.time_ns()
    t0 = time.perf_counter_ns()
    last: int | None = None
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    done = False
    try:
        async with http.stream("POST", f"{url}/chat/completions", json=body, headers=headers, timeout=timeout) as resp:
            if resp.status_code >= 500 or resp.status_code == 429:
                raise RetryableError(f"HTTP {resp.status_code}: {(await resp.aread())[:300].decode(errors='replace')}")
            if resp.status_code >= 400:
                raise FinalError(f"HTTP {resp.status_code}: {(await resp.aread())[:300].decode(errors='replace')}")
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    raise RetryableError(f"broken stream: undecodable chunk ({exc})") from None
                if chunk.get("error"):
                    raise RetryableError(f"error in stream: {str(chunk['error'])[:300]}")
                res.response_id = chunk.get("id") or res.response_id
                res.response_model = chunk.get("model") or res.response_model
                if usage := chunk.get("usage"):
                    res.input_tokens = int(usage.get("prompt_tokens") or 0)
                    res.output_tokens = int(usage.get("completion_tokens") or 0)
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    got = False
                    if delta.get("content"):
                        text.append(delta["content"])
                        got = True
                    for tc in delta.get("tool_calls") or []:
                        slot = calls.setdefault(int(tc.get("index", 0)), {"id": "", "name": "", "arguments": ""})
                        fn = tc.get("function") or {}
                        slot["id"] = tc.get("id") or slot["id"]
                        slot["name"] += fn.get("name") or ""
                        slot["arguments"] += fn.get("arguments") or ""
                        got = True
                    if got:
                        now = time.perf_counter_ns()
                        if last is None:
                            res.ttft_ns = now - t0
                        else:
                            res.itl_ns.append(now - last)
                        last = now
                    if choice.get("finish_reason"):
                        res.finish_reason = choice["finish_reason"]
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise RetryableError(f"{type(exc).__name__}: {exc}", member_down=True) from None
    if not done:
        raise RetryableError("broken stream: ended before [DONE]")
    res.e2e_ns = time.perf_counter_ns() - t0
    res.text = "".join(text)
    res.tool_calls = [calls[i] for i in sorted(calls)]
    res.ok = True
    return res


async def call(pool: Pool, http: httpx.AsyncClient, body: dict[str, Any], *, api_key: str | None, timeout: float,
               retries: int, backoff: float) -> CallResult:  # fmt: skip
    """Send `body` (model included) to the pool, streaming, with retries."""
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    error = ""
    for attempt in range(retries + 1):
        if attempt:
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
        if not any(m.healthy for m in pool.members):
            await pool.check_all()
        try:
            async with pool.lease() as member:
                try:
                    res = await _stream_once(http, member.base_url, headers, body, timeout)
                except RetryableError as exc:
                    if exc.member_down:
                        pool.mark_down(member, str(exc))
                    raise
                member.served += 1
        except NoHealthyMember as exc:
            error = str(exc)
            continue
        except RetryableError as exc:
            error = str(exc)
            continue
        except FinalError as exc:
            return CallResult(ok=False, error=str(exc), attempts=attempt + 1)
        res.attempts = attempt + 1
        return res
    return CallResult(ok=False, error=error, attempts=retries + 1)
