"""Retries, timeouts and load balancing of the replay client against failures
a real vLLM server cannot be made to produce on demand.

The stand-in below is NOT a model server: it is a minimal OpenAI-compatible
streaming endpoint that answers 503 once, breaks a stream before `[DONE]`,
stalls past the client timeout or rejects with 400, on request.  Everything
else in replay is tested against real vLLM (test_replay_vllm.py).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from replay.client import call
from replay.pool import Pool

WORDS = ["Hello", " there", ",", " friend", "."]


def _chunk(**delta) -> bytes:  # type: ignore[no-untyped-def]
    body = {"id": "cmpl-1", "model": "stand-in", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def stand_in_app(calls: Counter) -> Starlette:
    """Behaviour by path prefix: /ok, /fail-once (503 first), /break-once
    (stream cut before [DONE] first), /stall (never answers in time), /reject (400)."""

    async def models(request: Request) -> Response:
        return JSONResponse({"data": [{"id": "stand-in"}]})

    async def completions(request: Request) -> Response:
        mode = request.path_params["mode"]
        calls[mode] += 1
        first = calls[mode] == 1
        if mode == "reject":
            return JSONResponse({"error": "bad request"}, status_code=400)
        if mode == "fail-once" and first:
            return JSONResponse({"error": "overloaded"}, status_code=503)
        if mode == "stall":
            await asyncio.sleep(3)

        async def stream():  # type: ignore[no-untyped-def]
            for i, w in enumerate(WORDS):
                yield _chunk(content=w)
                await asyncio.sleep(0.01)
                if mode == "break-once" and first and i == 1:
                    return
            usage = {"prompt_tokens": 7, "completion_tokens": len(WORDS)}
            yield b"data: " + orjson.dumps({"id": "cmpl-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                                             "usage": usage}) + b"\n\n"  # fmt: skip
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/{mode}/v1/models", models), Route("/{mode}/v1/chat/completions", completions,
                                                                      methods=["POST"])])  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stand_in():
    calls: Counter = Counter()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(stand_in_app(calls), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", calls
    server.should_exit = True
    thread.join(10)


BODY = {"model": "stand-in", "messages": [{"role": "user", "content": "hi"}]}


async def _call(urls: list[str], **kw):  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as http:
        pool = Pool(urls, http)
        opts = {"api_key": None, "timeout": 1.0, "retries": 2, "backoff": 0.01, **kw}
        return await call(pool, http, BODY, **opts), pool


async def test_streamed_answer_measures_ttft_and_gaps(stand_in):
    base, _ = stand_in
    res, _ = await _call([f"{base}/ok/v1"])
    assert res.ok and res.attempts == 1
    assert res.text == "".join(WORDS) and res.finish_reason == "stop"
    assert (res.input_tokens, res.output_tokens) == (7, len(WORDS))
    assert res.ttft_ns is not None and 0 < res.ttft_ns <= res.e2e_ns
    assert len(res.itl_ns) == len(WORDS) - 1 and all(g > 0 for g in res.itl_ns)


async def test_5xx_is_retried(stand_in):
    base, calls = stand_in
    res, _ = await _call([f"{base}/fail-once/v1"])
    assert res.ok and res.attempts == 2 and calls["fail-once"] == 2


async def test_broken_stream_is_retried_whole(stand_in):
    base, calls = stand_in
    res, _ = await _call([f"{base}/break-once/v1"])
    assert res.ok and res.attempts == 2 and res.text == "".join(WORDS)
    assert calls["break-once"] == 2


async def test_timeout_gives_an_error_result_after_retries(stand_in):
    base, _ = stand_in
    res, _ = await _call([f"{base}/stall/v1"], timeout=0.3, retries=1)
    assert not res.ok and res.attempts == 2 and "Timeout" in res.error


async def test_4xx_is_final(stand_in):
    base, calls = stand_in
    res, _ = await _call([f"{base}/reject/v1"])
    assert not res.ok and res.attempts == 1 and res.error.startswith("HTTP 400")
    assert calls["reject"] == 1


async def test_dead_member_is_taken_out_and_load_is_balanced(stand_in):
    base, _ = stand_in
    dead = f"http://127.0.0.1:{_free_port()}/ok/v1"  # nothing listens there
    live = [f"{base}/ok/v1", f"{base.replace('127.0.0.1', 'localhost')}/ok/v1"]
    async with httpx.AsyncClient() as http:
        pool = Pool([dead, *live], http)
        results = await asyncio.gather(*(call(pool, http, BODY, api_key=None, timeout=2.0, retries=3, backoff=0.01)
                                         for _ in range(12)))  # fmt: skip
        assert all(r.ok for r in results)
        by_url = {m.base_url: m for m in pool.members}
        assert not by_url[dead].healthy and by_url[dead].served == 0
        assert by_url[live[0]].served + by_url[live[1]].served == 12
        assert by_url[live[0]].served >= 3 and by_url[live[1]].served >= 3  # least outstanding spreads the load
        assert await pool.check_all() == 2
