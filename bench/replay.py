"""Replay benchmark on real vLLM (SmolLM2-135M on this CPU, tests/support/vllm.py):

1. Harness overhead: the same requests at the same concurrency, sent by a
   plain concurrent streaming client (httpx, nothing else) and by the replay
   harness (pool balancing, retries, TTFT/ITL timing, health checks, KV-cache
   sampling and /metrics scrapes, results written to ClickHouse through an
   embedded chDB, OTLP spans built).  Rounds go plain, harness, harness,
   plain, ... (ABBA) so drift on the shared machine hits both alike.  Beside
   wall-clock throughput, each round records CPU seconds of the client
   process (chDB threads included) and of the vLLM process tree, per output
   token: on a shared machine CPU time holds up better than wall time.
   `--profile` prints where the harness's own CPU goes (cProfile).
2. Speculative decoding: the same greedy requests against the baseline
   server and the ngram-speculative one, one at a time.

    python -m bench.replay [--requests 24] [--concurrency 4] [--rounds 4] [--max-tokens 64] [--profile]
                           [--skip-speculative]

Prints tables with absolute figures and ratios to the baseline measured in
the same run.  No test asserts on these numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench._common import Percentiles, machine_busy_seconds, machine_info, table, tree_cpu_seconds, write_json
from replay.config import ReplaySpec, RunOptions, Variant
from replay.request import ReplayRequest
from replay.runner import RunContext, replay_requests
from replay.spans import export_request
from storage.clickhouse import migrate
from storage.clickhouse.client import ClickHouseTarget, connect
from storage.clickhouse.replay_queries import ReplayStore
from tests.support.vllm import NGRAM_SPEC, ensure_vllm, run_vllm

WORDS = "apple banana cherry grape lemon mango olive peach pear plum river stone cloud forest candle".split()


def prompts(n: int) -> list[str]:
    out = []
    for i in range(n):
        items = [WORDS[(i * 5 + k * 3) % len(WORDS)] for k in range(6)]
        out.append("Repeat this list exactly, one item per line:\n" + "\n".join(items * 2))
    return out


def requests_for(texts: list[str], max_tokens: int) -> list[ReplayRequest]:
    return [
        ReplayRequest(source_trace_id=f"{i:032x}", source_span_id=f"{i:016x}", start_ns=i,
                      model="smollm2", messages=[{"role": "user", "content": t}],
                      params={"temperature": 0.0, "max_tokens": max_tokens})
        for i, t in enumerate(texts)
    ]  # fmt: skip


async def plain(base_url: str, model: str, texts: list[str], concurrency: int, max_tokens: int) -> tuple[float, int]:
    """The reference: N streaming requests, `concurrency` at a time, nothing else."""
    sem = asyncio.Semaphore(concurrency)
    tokens = 0

    async def one(http: httpx.AsyncClient, text: str) -> None:
        nonlocal tokens
        body = {"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0.0,
                "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
        async with sem, http.stream("POST", f"{base_url}/chat/completions", json=body, timeout=300) as resp:
            async for line in resp.aiter_lines():
                if line.startswith("data:") and line[5:].strip() != "[DONE]":
                    usage = orjson.loads(line[5:]).get("usage")
                    if usage:
                        tokens += usage["completion_tokens"]

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency * 2)) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(http, t) for t in texts))
        return time.perf_counter() - t0, tokens


async def harness(store: ReplayStore, run_id: str, base_url: str, model: str, reqs: list[ReplayRequest],
                  concurrency: int) -> tuple[float, int]:  # fmt: skip
    spec = ReplaySpec(variants=[Variant(name="v", base_urls=[base_url], model=model)],
                      options=RunOptions(concurrency=concurrency))  # fmt: skip
    exported: list[int] = []

    async def export(payload: bytes) -> None:
        exported.append(len(payload))  # built and serialised like a real run; not sent anywhere

    ctx = RunContext("bench", run_id, spec, store, export)
    t0 = time.perf_counter()
    await replay_requests(ctx, reqs)
    wall = time.perf_counter() - t0
    rows = store.results("bench", run_id)
    assert len(rows) == len(reqs) and all(r["status"] == "ok" for r in rows), "harness requests failed"
    assert export_request([]) is not None
    return wall, sum(r["output_tokens"] for r in rows)


async def spec_pass(base_url: str, model: str, texts: list[str], max_tokens: int) -> tuple[list[float], int, float]:
    lat: list[float] = []
    tokens = 0
    async with httpx.AsyncClient() as http:
        t0 = time.perf_counter()
        for t in texts:
            s = time.perf_counter()
            r = await http.post(f"{base_url}/chat/completions", timeout=300, json={
                "model": model, "messages": [{"role": "user", "content": t}], "temperature": 0.0,
                "max_tokens": max_tokens})  # fmt: skip
            r.raise_for_status()
            lat.append((time.perf_counter() - s) * 1e3)
            tokens += r.json()["usage"]["completion_tokens"]
        return lat, tokens, time.perf_counter() - t0


def vllm_pid(base_url: str) -> int | None:
    """The vLLM server listening on base_url's port (its process tree holds the engine core)."""
    port = base_url.rsplit(":", 1)[1].split("/", 1)[0]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if b"vllm.entrypoints.openai.api_server" in cmd and b"--port" in cmd and cmd[cmd.index(b"--port") + 1] == port.encode():
                return int(entry)
    return None


def measured(fn, server_pid: int | None):  # type: ignore[no-untyped-def]
    """(result, client CPU s, server CPU s, other work's CPU s) around fn()."""
    c0, s0, m0 = time.process_time(), tree_cpu_seconds(server_pid) if server_pid else 0.0, machine_busy_seconds()
    out = fn()
    c1, s1, m1 = time.process_time(), tree_cpu_seconds(server_pid) if server_pid else 0.0, machine_busy_seconds()
    return out, c1 - c0, s1 - s0, max((m1 - m0) - (c1 - c0) - (s1 - s0), 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4, help="pairs of plain/harness runs, in ABBA order")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--profile", action="store_true", help="print the harness's top functions by own CPU time")
    ap.add_argument("--skip-speculative", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    print(machine_info())
    install = ensure_vllm()
    texts = prompts(args.requests)
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    target = ClickHouseTarget(f"chdb://{work / 'ch'}")
    client = connect(target)
    migrate.upgrade(client)
    store = ReplayStore(client)
    out: dict = {"args": vars(args)}
    # CPU time, not cProfile's default wall clock: on a loaded machine wall
    # time per function is mostly time spent preempted.
    prof = cProfile.Profile(time.process_time) if args.profile else None
    with run_vllm(install, work / "base") as base:
        pid = vllm_pid(base.base_url)
        asyncio.run(plain(base.base_url, base.model, texts[:4], 2, args.max_tokens))  # warm-up
        asyncio.run(harness(store, "warm-up", base.base_url, base.model, requests_for(texts[:4], args.max_tokens), 2))
        rows = []
        sums = {"plain": [0.0, 0, 0.0, 0.0], "harness": [0.0, 0, 0.0, 0.0]}  # wall, tokens, client cpu, server cpu
        loads = []
        for rnd in range(args.rounds):
            order = ("plain", "harness") if rnd % 2 == 0 else ("harness", "plain")
            for kind in order:
                if kind == "plain":
                    fn = lambda: asyncio.run(plain(base.base_url, base.model, texts, args.concurrency, args.max_tokens))  # noqa: E731
                else:
                    reqs = requests_for(texts, args.max_tokens)

                    def fn(rnd=rnd, reqs=reqs):  # type: ignore[no-untyped-def]
                        if prof:
                            prof.enable()
                        try:
                            return asyncio.run(harness(store, f"bench-{rnd}", base.base_url, base.model, reqs,
                                                       args.concurrency))  # fmt: skip
                        finally:
                            if prof:
                                prof.disable()
                (w, tok), ccpu, scpu, other = measured(fn, pid)
                load = os.getloadavg()[0]
                loads.append(load)
                for i, x in enumerate((w, tok, ccpu, scpu)):
                    sums[kind][i] += x
                rows.append([f"{kind}, round {rnd + 1}", w, tok, tok / w, ccpu * 1e3 / tok, scpu * 1e3 / tok, other, load])
        p, h = sums["plain"], sums["harness"]
        tps_ratio = (h[1] / h[0]) / (p[1] / p[0])
        cpu_ratio = ((h[2] + h[3]) / h[1]) / ((p[2] + p[3]) / p[1])
        print(f"\nHarness overhead ({args.requests} requests, concurrency {args.concurrency}, max_tokens {args.max_tokens}, "
              f"greedy; contended: load average {min(loads):.2f}-{max(loads):.2f} during the rounds)")  # fmt: skip
        print(table(["client", "wall s", "out tokens", "out tok/s", "client CPU ms/tok", "vLLM CPU ms/tok",
                     "other work CPU s", "load 1m"], rows))  # fmt: skip
        print(table(["measure", "plain", "harness", "harness / plain"], [
            ["out tok/s (all rounds)", p[1] / p[0], h[1] / h[0], tps_ratio],
            ["client CPU ms/tok", p[2] * 1e3 / p[1], h[2] * 1e3 / h[1], (h[2] / h[1]) / (p[2] / p[1])],
            ["vLLM CPU ms/tok", p[3] * 1e3 / p[1], h[3] * 1e3 / h[1], (h[3] / h[1]) / (p[3] / p[1])],
            ["client + vLLM CPU ms/tok", (p[2] + p[3]) * 1e3 / p[1], (h[2] + h[3]) * 1e3 / h[1], cpu_ratio],
        ]))  # fmt: skip
        print(f"throughput loss {1 - tps_ratio:+.1%}; extra CPU per output token {cpu_ratio - 1:+.1%}")
        out["overhead"] = {"rows": rows, "throughput_ratio": tps_ratio, "cpu_per_token_ratio": cpu_ratio, "loads": loads}
        if prof:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
            print("\nHarness profile (own CPU time of the event-loop thread, all harness rounds):\n" + buf.getvalue())
        if args.skip_speculative:
            client.close()
            if args.json:
                print(write_json("replay", out))
            return
        base_lat, base_tok, base_wall = asyncio.run(spec_pass(base.base_url, base.model, texts, args.max_tokens))
    with run_vllm(install, work / "spec", speculative=NGRAM_SPEC) as spec:
        asyncio.run(spec_pass(spec.base_url, spec.model, texts[:2], args.max_tokens))  # warm-up
        spec_lat, spec_tok, spec_wall = asyncio.run(spec_pass(spec.base_url, spec.model, texts, args.max_tokens))
    client.close()
    b, s = Percentiles.of(base_lat), Percentiles.of(spec_lat)
    print(f"\nSpeculative decoding (ngram, 4 tokens; {args.requests} repeat-the-list requests, one at a time)")
    print(table(
        ["server", "e2e p50 ms", "e2e p90 ms", "out tokens", "out tok/s", "speedup (tok/s)"],
        [["baseline", b.p50, b.p90, base_tok, base_tok / base_wall, 1.0],
         ["ngram speculative", s.p50, s.p90, spec_tok, spec_tok / spec_wall, (spec_tok / spec_wall) / (base_tok / base_wall)]],
    ))  # fmt: skip
    out["speculative"] = {"baseline": b, "ngram": s, "tokens": [base_tok, spec_tok], "wall": [base_wall, spec_wall]}
    if args.json:
        print(write_json("replay", out))


if __name__ == "__main__":
    main()
