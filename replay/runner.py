"""Run a replay: select captured calls, rebuild them, send them to every
variant's pool, store what came back, and build the comparison report.

Variants run one after the other (baseline first), each with the whole
concurrency budget, so their latencies and engine counters are not mixed.
Resumable: results are stored as they arrive, and a rerun of the same run
skips every (variant, source span) already answered successfully.  Storage
calls are blocking (clickhouse-connect), so they run on threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from replay import engine_metrics
from replay.client import CallResult, call
from replay.compare import VariantInput, build_report
from replay.scoring import score_variants
from replay.similarity import Embedder
from replay.config import ReplaySpec, RunOptions, Variant
from replay.pool import Pool
from replay.request import ReplayRequest, Unreplayable, output_text, reconstruct
from replay.spans import export_request, ids, result_span
from storage.clickhouse.replay_queries import ReplayStore, Selection, utc

log = logging.getLogger(__name__)

# Results are written (and exported as spans) when this many wait or the
# oldest has waited this long: each insert and export has a fixed cost of
# tens of ms that a fast pool would otherwise pay many times a second, on
# the machine it is measuring; a crash loses at most FLUSH_SECONDS of results
# (a resume re-sends them).
FLUSH_ROWS = 256
FLUSH_SECONDS = 2.0
KV_SAMPLE_SECONDS = 1.0

ExportFn = Callable[[bytes], Awaitable[None]]
ProgressFn = Callable[[float], Awaitable[None]]
PriceFn = Callable[[str, int, int, int], float | None]  # model, input tokens, output tokens, start ns -> USD


@dataclass(slots=True)
class RunContext:
    project_id: str
    run_id: str
    spec: ReplaySpec
    store: ReplayStore
    export: ExportFn | None = None
    progress: ProgressFn | None = None
    price: PriceFn | None = None


@dataclass(slots=True)
class Prepared:
    requests: list[ReplayRequest]
    unreplayable: dict[str, int]
    selected: int
    start_ns: int = 0
    end_ns: int = 0
    skipped: list[Unreplayable] = field(default_factory=list)


def prepare(rows: list[dict[str, Any]]) -> Prepared:
    reqs: list[ReplayRequest] = []
    skipped: list[Unreplayable] = []
    for row in rows:
        r = reconstruct(row)
        (skipped if isinstance(r, Unreplayable) else reqs).append(r)  # type: ignore[arg-type]
    starts = [int(r["start_ns"]) for r in rows]
    return Prepared(reqs, dict(Counter(s.reason for s in skipped)), len(rows),
                    min(starts, default=0), max(starts, default=0), skipped)  # fmt: skip


def request_body(req: ReplayRequest, variant: Variant, opts: RunOptions) -> dict[str, Any]:
    body = req.body()
    messages = list(body["messages"])
    if variant.system_prompt is not None:
        messages = [m for m in messages if m["role"] != "system"]
        messages.insert(0, {"role": "system", "content": variant.system_prompt})
    body["messages"] = messages
    body.update(variant.params)
    body["model"] = variant.model
    if opts.temperature_zero:
        body["temperature"] = 0.0
    if opts.seed is not None:
        body["seed"] = opts.seed
    if opts.max_tokens is not None:
        body["max_tokens"] = min(int(body.get("max_tokens") or opts.max_tokens), opts.max_tokens)
    return body


def _delay(i: int, req: ReplayRequest, first_ns: int, opts: RunOptions) -> float:
    if opts.timing == "qps" and opts.qps:
        return i / opts.qps
    if opts.timing == "original":
        return (req.start_ns - first_ns) / 1e9 / opts.time_scale
    return 0.0


class _Sink:
    """Buffers results; writes them to ClickHouse and exports their spans in batches."""

    def __init__(self, ctx: RunContext, variant: Variant) -> None:
        self.oldest = 0.0  # monotonic time the oldest buffered result arrived
        self.ctx, self.variant = ctx, variant
        self.rows: list[dict[str, Any]] = []
        self.spans: list[Any] = []
        self.lock = asyncio.Lock()

    def add(self, req: ReplayRequest, body: dict[str, Any], res: CallResult) -> None:
        if not res.started_ns:
            res.started_ns = time.time_ns()
        if not self.rows:
            self.oldest = time.monotonic()
        trace_id, span_id = ids(self.ctx.run_id, self.variant.name, req.source_span_id)
        self.rows.append({
            "project_id": self.ctx.project_id, "run_id": self.ctx.run_id, "variant": self.variant.name,
            "source_trace_id": req.source_trace_id, "source_span_id": req.source_span_id,
            "started_at": utc(res.started_ns), "endpoint": res.endpoint, "model": self.variant.model,
            "status": "ok" if res.ok else "error", "error": res.error[:2000], "attempts": min(res.attempts, 255),
            "ttft_ns": res.ttft_ns, "e2e_ns": res.e2e_ns, "itl_ns": res.itl_ns, "input_tokens": res.input_tokens,
            "output_tokens": res.output_tokens, "finish_reason": res.finish_reason,
            "output_text": res.text or (orjson.dumps(res.tool_calls).decode() if res.tool_calls else ""),
            "request_json": orjson.dumps(body).decode(), "trace_id": trace_id.hex(), "span_id": span_id.hex(),
            "version": time.time_ns(),
        })  # fmt: skip
        self.spans.append(result_span(self.ctx.run_id, self.variant.name, self.variant.model, req, body, res))

    async def flush(self, force: bool = False) -> None:
        async with self.lock:
            due = len(self.rows) >= FLUSH_ROWS or time.monotonic() - self.oldest >= FLUSH_SECONDS
            if not self.rows or not (due or force):
                return
            rows, spans = self.rows, self.spans
            self.rows, self.spans = [], []
            await asyncio.to_thread(self.ctx.store.write_results, rows)
            if self.ctx.export is not None:
                try:
                    await self.ctx.export(export_request(spans))
                except Exception:  # noqa: BLE001 - the results are stored; a lost trace copy is logged
                    log.exception("exporting %d replay spans failed", len(spans))


async def _kv_sampler(http: httpx.AsyncClient, pool: Pool, peaks: dict[str, float], stop: asyncio.Event) -> None:
    """KV-cache usage is a gauge that falls back to 0 once requests finish:
    sample it while the variant runs and keep each member's peak.  Only that
    one series is fetched (`scrape_gauge`), so sampling costs the engine and
    the harness next to nothing."""
    while not stop.is_set():
        values = await asyncio.gather(*(engine_metrics.scrape_gauge(http, m.base_url, engine_metrics.KV_USAGE)
                                        for m in pool.members))  # fmt: skip
        for m, value in zip(pool.members, values, strict=True):
            if value is not None:
                peaks[m.base_url] = max(peaks.get(m.base_url, 0.0), value)
        try:
            await asyncio.wait_for(stop.wait(), timeout=KV_SAMPLE_SECONDS)
        except TimeoutError:
            pass


async def run_variant(ctx: RunContext, http: httpx.AsyncClient, variant: Variant, requests: list[ReplayRequest],
                      on_done: Callable[[], Awaitable[None]]) -> None:  # fmt: skip
    opts = ctx.spec.options
    pool = Pool(variant.base_urls, http, variant.api_key)
    # What is done already, the members' health and their counters before
    # the run, side by side: they are independent round trips.
    done, _, *snaps = await asyncio.gather(
        asyncio.to_thread(ctx.store.done_sources, ctx.project_id, ctx.run_id, variant.name), pool.check_all(),
        *(engine_metrics.scrape(http, m.base_url) for m in pool.members),
    )  # fmt: skip
    before = {m.base_url: snap for m, snap in zip(pool.members, snaps, strict=True)}
    todo = [r for r in requests if r.source_span_id not in done]
    for _ in range(len(requests) - len(todo)):
        await on_done()
    if not todo:
        return
    stop = asyncio.Event()
    peaks: dict[str, float] = {}
    watchers = [asyncio.create_task(pool.watch(opts.health_interval_seconds, stop)),
                asyncio.create_task(_kv_sampler(http, pool, peaks, stop))]  # fmt: skip
    sink = _Sink(ctx, variant)
    sem = asyncio.Semaphore(opts.concurrency)
    t0 = time.perf_counter()
    first_ns = min(r.start_ns for r in todo)

    async def one(i: int, req: ReplayRequest) -> None:
        wait = t0 + _delay(i, req, first_ns, opts) - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        body = request_body(req, variant, opts)
        async with sem:
            res = await call(pool, http, body, api_key=variant.api_key, timeout=opts.timeout_seconds,
                             retries=opts.retries, backoff=opts.backoff_seconds)  # fmt: skip
        sink.add(req, body, res)
        await sink.flush()
        await on_done()

    try:
        await asyncio.gather(*(one(i, r) for i, r in enumerate(todo)))
    finally:
        stop.set()
        await asyncio.gather(*watchers, return_exceptions=True)
        await sink.flush(force=True)
    rows = []
    afters = await asyncio.gather(*(engine_metrics.scrape(http, m.base_url) for m in pool.members))
    for m, after in zip(pool.members, afters, strict=True):
        b = before.get(m.base_url)
        if after is None or b is None:
            continue
        d = engine_metrics.delta(m.base_url, b, after)
        kv = max(peaks.get(m.base_url, 0.0), d.kv_cache_usage or 0.0) if (peaks or d.kv_cache_usage is not None) else None
        rows.append({
            "project_id": ctx.project_id, "run_id": ctx.run_id, "variant": variant.name, "endpoint": m.base_url,
            "scraped_at": utc(time.time_ns()), "spec_drafts": d.spec_drafts, "spec_draft_tokens": d.spec_draft_tokens,
            "spec_accepted_tokens": d.spec_accepted_tokens, "spec_accepted_per_pos": d.spec_accepted_per_pos,
            "acceptance_rate": d.acceptance_rate, "mean_accepted_length": d.mean_accepted_length,
            "kv_cache_usage": kv, "queue_time_seconds_sum": d.queue_time_seconds_sum,
            "queue_time_count": d.queue_time_count, "deltas": d.deltas, "version": time.time_ns(),
        })  # fmt: skip
    await asyncio.to_thread(ctx.store.write_engine_metrics, rows)


async def replay_requests(ctx: RunContext, requests: list[ReplayRequest]) -> None:
    """Send `requests` to every variant (skipping what a previous attempt did)."""
    total = max(len(requests) * len(ctx.spec.variants), 1)
    count = 0
    last_report = 0.0

    async def on_done() -> None:
        nonlocal count, last_report
        count += 1
        now = time.monotonic()
        if ctx.progress is not None and (now - last_report > 0.5 or count == total):
            last_report = now
            await ctx.progress(min(count / total, 0.99))

    limits = httpx.Limits(max_connections=ctx.spec.options.concurrency * 2 + 8, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits) as http:
        for variant in ctx.spec.ordered():
            await run_variant(ctx, http, variant, requests, on_done)


def _wall_seconds(rows: list[dict[str, Any]]) -> float:
    """From the stored results, so a resumed run measures only its requests'
    own span of time, never the pause between attempts."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return 0.0
    start = min(r["started_ns"] for r in ok)
    end = max(r["started_ns"] + r["e2e_ns"] for r in ok)
    return (end - start) / 1e9


def _extras(ctx: RunContext, inputs: list[VariantInput]) -> tuple[Embedder | None, dict[str, Any]]:
    """The embedder and the evaluator scores the spec asks for (blocking)."""
    opts = ctx.spec.report
    embedder = Embedder() if opts.embedding_cosine else None
    scores = score_variants(ctx.project_id, {v.name: v.results for v in inputs}, opts.evaluators)
    return embedder, scores


def report(ctx: RunContext, prepared: Prepared, seed: int = 0) -> dict[str, Any]:
    """Blocking: reads everything stored for the run and builds the report."""
    results = ctx.store.results(ctx.project_id, ctx.run_id)
    engine = ctx.store.engine_metrics(ctx.project_id, ctx.run_id)
    wanted = {r.source_span_id for r in prepared.requests}
    production = {
        k: output_text(v)
        for k, v in ctx.store.source_outputs(ctx.project_id, sorted(wanted), prepared.start_ns, prepared.end_ns).items()
    }
    inputs = []
    for v in ctx.spec.ordered():
        rows = [r for r in results if r["variant"] == v.name and r["source_span_id"] in wanted]
        cost = None
        if ctx.price is not None:
            prices = [ctx.price(v.model, r["input_tokens"], r["output_tokens"], r["started_ns"])
                      for r in rows if r["status"] == "ok"]  # fmt: skip
            known = [p for p in prices if p is not None]
            cost = sum(known) if known else None
        inputs.append(VariantInput(
            name=v.name, results=rows, wall_seconds=_wall_seconds(rows),
            engine=[e for e in engine if e["variant"] == v.name], gpu_hour_usd=v.gpu_hour_usd, gpus=v.gpus,
            api_cost_usd=cost,
        ))  # fmt: skip
    out = build_report(inputs, ctx.spec.baseline or inputs[0].name, production, ctx.spec.thresholds,
                       prepared.unreplayable, prepared.selected, seed, *_extras(ctx, inputs))  # fmt: skip
    out["run_id"] = ctx.run_id
    out["unreplayable_examples"] = [{"source_span_id": s.source_span_id, "reason": s.reason}
                                    for s in prepared.skipped[:20]]  # fmt: skip
    return out


async def run(ctx: RunContext, selection: Selection) -> dict[str, Any]:
    """The whole run; returns the report (also stored)."""
    rows = await asyncio.to_thread(ctx.store.select_calls, selection)
    prepared = prepare(rows)
    await replay_requests(ctx, prepared.requests)
    out = await asyncio.to_thread(report, ctx, prepared, selection.seed)
    now = time.time_ns()
    await asyncio.to_thread(ctx.store.write_report, ctx.project_id, ctx.run_id, 0, out["verdict"], out, now)
    return out


def window_report(ctx: RunContext, start_ns: int, end_ns: int, extras: bool = True) -> dict[str, Any] | None:
    """Blocking: the report over results that started in [start_ns, end_ns)
    (one shadow window); None when the window saw no replays.  Without
    `extras`, no evaluator scores, and embeddings only if the verdict is
    taken on them (the shadow loop's frequent rolling verdict)."""
    results = ctx.store.results(ctx.project_id, ctx.run_id, start_ns, end_ns)
    if not results:
        return None
    sources = sorted({r["source_span_id"] for r in results})
    production = {
        k: output_text(v)
        for k, v in ctx.store.source_outputs(ctx.project_id, sources, start_ns - 86_400 * 10**9, end_ns).items()
    }
    inputs = [
        VariantInput(name=v.name, results=[r for r in results if r["variant"] == v.name],
                     wall_seconds=(end_ns - start_ns) / 1e9, engine=[], gpu_hour_usd=v.gpu_hour_usd, gpus=v.gpus)
        for v in ctx.spec.ordered()
    ]  # fmt: skip
    if extras:
        embedder, scores = _extras(ctx, inputs)
    else:
        needs = ctx.spec.thresholds.agreement_metric == "embedding_cosine"
        embedder, scores = (Embedder() if needs else None), {}
    out = build_report(inputs, ctx.spec.baseline or inputs[0].name, production, ctx.spec.thresholds, {},
                       len(sources), 0, embedder, scores)  # fmt: skip
    out.update(run_id=ctx.run_id, window_start_ns=start_ns, window_end_ns=end_ns)
    return out
