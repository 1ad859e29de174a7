"""Ingest benchmark: OTLP exports in, spans queryable through the API out.

    python -m bench.ingest [--spans 200000] [--exporters 4,8] [--protocol both]
                           [--batch 512] [--profile mixed] [--json] [--url URL --key KEY ...]

1. Builds realistic GenAI traffic (bench/traffic.py: four dialects, 8 services,
   5 models incl. an unpriced one, users, sessions, traces of 1-10 spans) and
   serializes every export BEFORE timing, in a pool of processes.
   --profile: heavy = message content captured on every trace (~3.7 KB/span),
   light = content capture off, the instrumentations' default (~0.5 KB/span),
   mixed (default) = 20 % of traces heavy, 80 % light.
2. Baselines, same payloads, same machine, one thread: protobuf decode only
   (`ExportTraceServiceRequest.FromString`, upb) and the server's own Python
   pipeline without the insert (normalize + layers + price + column batch).
3. Starts `python -m collector up` on a fresh data dir (or uses --url/--key).
4. For each protocol x exporter count: a fresh project (POST /api/v1/projects),
   N exporter *processes*, each sending its share of the batches one at a time
   (as one BatchSpanProcessor does) and retrying on 503/UNAVAILABLE.  Then it
   polls GET /api/v1/usage until the LLM calls counted there equal the LLM
   calls sent: that is the moment the data is queryable.

Figures: "stored spans/s" = spans sent / (queryable - first send); "acked
spans/s" = spans / (last ack - first send); "lag" = queryable - last ack
(an upper bound: it includes the poll interval and one usage query).  The API
has no cheap span count, and /usage counts LLM calls only (counts_usage = 1),
so completeness is judged on the LLM calls, which are spread through every
export; the server's own `llmobs_spans_stored` counter (/metrics) is shown as
a cross-check on the total span count.

The client processes and the server share the machine's cores: the table
shows the CPU seconds each side used.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ingest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import httpx

from bench._common import (
    Percentiles,
    RssSampler,
    ServerProc,
    bench_child_cwd,
    crash_report,
    machine_busy_seconds,
    machine_info,
    proc_cpu_seconds,
    proc_rss_bytes,
    proc_tree,
    server_env,
    server_root,
    start_server,
    table,
    tree_cpu_seconds,
    write_json,
)
from bench.traffic import PROFILES, BatchStats, build_batches

GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


# ---- exporter processes --------------------------------------------------------------------


@dataclass(slots=True)
class ExportResult:
    """One export as the sending application sees it (retries included)."""

    spans: int
    latency_s: float  # first attempt sent -> final ack
    attempt_latency_s: float  # the acknowledged attempt alone
    attempts: int
    success: bool
    error: str = ""


@dataclass
class ExporterReport:
    index: int
    results: list[ExportResult] = field(default_factory=list)
    t_first_send: float = 0.0
    t_last_ack: float = 0.0
    cpu_seconds: float = 0.0
    fatal: str = ""


def _load(path: str, slices: list[tuple[int, int]]) -> list[bytes]:
    out = []
    with open(path, "rb") as f:
        for off, n in slices:
            f.seek(off)
            out.append(f.read(n))
    return out


def _send_http(url: str, key: str, timeout: float):  # type: ignore[no-untyped-def]
    client = httpx.Client(
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}, timeout=timeout
    )

    def send(body: bytes) -> tuple[bool, float, str]:
        """(acknowledged, retry delay if not, error)"""
        try:
            r = client.post(url + "/v1/traces", content=body)
        except httpx.HTTPError as exc:
            return False, 1.0, f"{type(exc).__name__}: {exc}"
        if r.status_code == 200:
            return True, 0.0, ""
        if r.status_code in (429, 502, 503, 504):
            ra = r.headers.get("retry-after", "1")
            return False, float(ra) if ra.replace(".", "", 1).isdigit() else 1.0, f"HTTP {r.status_code}"
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")

    return send, client.close


def _send_grpc(target: str, key: str, timeout: float):  # type: ignore[no-untyped-def]
    import grpc

    channel = grpc.insecure_channel(
        target, options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", 64 << 20)]
    )
    # No serializers: the pre-built request bytes go on the wire as they are.
    call = channel.unary_unary(GRPC_METHOD)
    md = (("authorization", f"Bearer {key}"),)
    retryable = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED}

    def send(body: bytes) -> tuple[bool, float, str]:
        try:
            call(body, metadata=md, timeout=timeout)
            return True, 0.0, ""
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            if code in retryable:
                return False, 1.0, f"gRPC {code.name}"
            raise RuntimeError(f"gRPC {code.name}: {exc.details()}") from None  # type: ignore[attr-defined]

    return send, channel.close


def exporter_main(index: int, protocol: str, endpoint: str, key: str, payload_path: str,
                  slices: list[tuple[int, int]], span_counts: list[int], timeout: float, max_attempts: int,
                  ready: Any, go: Any, out: Any) -> None:  # fmt: skip
    rep = ExporterReport(index)
    try:
        bodies = _load(payload_path, slices)
        send, close = (_send_grpc if protocol == "grpc" else _send_http)(endpoint, key, timeout)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        rep.fatal = f"{type(exc).__name__}: {exc}"
        ready.put(index)
        out.put(rep)
        return
    ready.put(index)
    go.wait()
    cpu0 = time.process_time()
    rep.t_first_send = time.monotonic()
    try:
        for body, n in zip(bodies, span_counts):
            t0 = time.monotonic()
            attempts, err = 0, ""
            ok = False
            ta = t0
            while attempts < max_attempts:
                attempts += 1
                ta = time.monotonic()
                ok, delay, err = send(body)
                if ok:
                    break
                time.sleep(delay)
            t1 = time.monotonic()
            rep.results.append(ExportResult(n, t1 - t0, t1 - ta, attempts, ok, err))
            rep.t_last_ack = t1
    except Exception as exc:  # noqa: BLE001
        rep.fatal = f"{type(exc).__name__}: {exc}"
    finally:
        close()
    rep.cpu_seconds = time.process_time() - cpu0
    out.put(rep)


# ---- generation ----------------------------------------------------------------------------


def _gen_chunk(args: tuple[int, int, int, int, str]) -> tuple[list[bytes], BatchStats]:
    seed, n_batches, batch, t_end_ns, profile = args
    return build_batches(seed, n_batches, batch, t_end_ns, profile)


def generate(total_spans: int, batch: int, workers: int, path: Path,
             profile: str = "mixed") -> tuple[list[tuple[int, int]], list[int], BatchStats, float]:  # fmt: skip
    n_batches = max(1, -(-total_spans // batch))
    chunks = max(workers * 4, 1)
    per = [n_batches // chunks + (1 if i < n_batches % chunks else 0) for i in range(chunks)]
    t_end = time.time_ns() - 60 * 10**9
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        parts = pool.map(_gen_chunk, [(1000 + i, n, batch, t_end, profile) for i, n in enumerate(per) if n])
    stats = BatchStats()
    slices: list[tuple[int, int]] = []
    counts: list[int] = []
    with open(path, "wb") as f:
        for bodies, st in parts:
            stats.merge(st)
            for b in bodies:
                slices.append((f.tell(), len(b)))
                f.write(b)
            counts.extend([batch] * len(bodies))
    return slices, counts, stats, time.perf_counter() - t0


# ---- baselines -----------------------------------------------------------------------------


def decode_baseline(path: Path, slices: list[tuple[int, int]], counts: list[int]) -> dict[str, Any]:
    from google.protobuf.internal import api_implementation
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    bodies = _load(str(path), slices)
    spans = sum(counts)
    nbytes = sum(len(b) for b in bodies)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for b in bodies:
            ExportTraceServiceRequest.FromString(b)
        best = min(best, time.perf_counter() - t0)
    return {
        "protobuf_backend": api_implementation.Type(),
        "spans": spans,
        "seconds": best,
        "spans_per_s": spans / best,
        "mb_per_s": nbytes / best / 1e6,
    }


def pipeline_baseline(path: Path, slices: list[tuple[int, int]], counts: list[int]) -> dict[str, Any] | None:
    """The server's CPU path without the insert, one thread, in a child
    process that imports the server's source tree (see server_root())."""
    index = path.with_suffix(".index.json")
    index.write_text(json.dumps({"slices": slices, "counts": counts}))
    env = server_env(path.parent)
    r = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--pipeline-only", str(path)],
        cwd=bench_child_cwd(), env=env, capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0 or not r.stdout.strip():
        print(f"  (pipeline baseline unavailable with this server tree: {r.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def _pipeline_measure(path: Path, max_spans: int = 40_000) -> dict[str, Any]:
    """decode + normalize + layers + price + rows, as collector.ingest does it."""
    idx = json.loads(path.with_suffix(".index.json").read_text())
    slices, counts = [tuple(x) for x in idx["slices"]], idx["counts"]
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from collector.normalize.layers import resolve_layers
    from collector.normalize.spans import normalize_traces
    from collector.pricing import Pricer
    from collector.rows import spans_to_batch

    k = 0
    take = []
    for s, n in zip(slices, counts):
        if k >= max_spans:
            break
        take.append(s)
        k += n
    bodies = _load(str(path), take)
    pricer = Pricer(lambda _p: [])
    # warm the price matcher caches once, as a long-running server has them
    for b in bodies[:4]:
        res = normalize_traces(ExportTraceServiceRequest.FromString(b), "bench")
        [pricer.price(s.genai, project_id="bench", start_ns=s.start_ns) for s in res.spans]
    stages = {"decode": 0.0, "normalize": 0.0, "layers": 0.0, "price": 0.0, "rows": 0.0}
    t_all = time.perf_counter()
    for b in bodies:
        t = time.perf_counter()
        req = ExportTraceServiceRequest.FromString(b)
        t2 = time.perf_counter()
        res = normalize_traces(req, "bench")
        t3 = time.perf_counter()
        resolve_layers(res.spans)
        t4 = time.perf_counter()
        costs = [pricer.price(s.genai, project_id="bench", start_ns=s.start_ns) for s in res.spans]
        t5 = time.perf_counter()
        spans_to_batch(res.spans, costs, 30)
        t6 = time.perf_counter()
        stages["decode"] += t2 - t
        stages["normalize"] += t3 - t2
        stages["layers"] += t4 - t3
        stages["price"] += t5 - t4
        stages["rows"] += t6 - t5
    total = time.perf_counter() - t_all
    return {
        "spans": k,
        "seconds": total,
        "spans_per_s": k / total,
        "us_per_span": {name: v / k * 1e6 for name, v in stages.items()},
    }


class ServerDied(RuntimeError):
    def __init__(self, rc: int | None, report: str) -> None:
        super().__init__(f"the server exited during the phase:\n{report}")
        self.rc = rc


# ---- one phase -----------------------------------------------------------------------------


@dataclass
class PhaseResult:
    protocol: str
    exporters: int
    batch: int
    project: str
    spans: int
    exports: int
    llm_calls_sent: int
    wall_send_s: float = 0.0
    acked_spans_per_s: float = 0.0
    stored_spans_per_s: float = 0.0
    lag_ms: float = 0.0
    queryable: bool = False
    usage_requests_seen: int = 0
    server_spans_stored_delta: int | None = None
    ack_ms: Percentiles | None = None
    attempt_ms: Percentiles | None = None
    retries: int = 0
    failed_exports: int = 0
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float | None = None
    server_main_cpu_s: float | None = None  # the server process alone (asyncio loop, receivers, chDB threads)
    client_cpu_s: float = 0.0
    machine_cpu_s: float | None = None  # every process on the machine, over the same window as server_cpu_s
    loadavg_before: tuple[float, float, float] | None = None
    server_rss_peak_mb: float | None = None
    inserts: int | None = None
    rows_per_insert: float | None = None
    insert_ms_avg: float | None = None


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def server_metrics(srv: ServerProc) -> dict[str, float | None]:
    try:
        text = httpx.get(srv.api + "/metrics", timeout=30).text
    except httpx.HTTPError:
        return {}
    return {
        "stored": _metric(text, "llmobs_spans_stored_total"),
        "inserts": _metric(text, "llmobs_write_latency_seconds_count"),
        "insert_s": _metric(text, "llmobs_write_latency_seconds_sum"),
    }


def usage_requests(client: httpx.Client, start_ns: int, end_ns: int) -> int:
    r = client.get("/usage", params={"bucket": "day", "start": str(start_ns), "end": str(end_ns)})
    r.raise_for_status()
    return sum(int(i["requests"]) for i in r.json()["items"])


def run_phase(srv: ServerProc, protocol: str, n_exp: int, batch: int, payload: Path, slices: list[tuple[int, int]],
              counts: list[int], stats: BatchStats, args: argparse.Namespace, tag: str) -> PhaseResult:  # fmt: skip
    # A fresh project per phase: the same payloads become distinct rows
    # (project_id leads the sort key), and the usage count starts at zero.
    pid = f"bench-{protocol}-{n_exp}x-{tag}"
    with srv.client() as c:
        r = c.post("/projects", json={"id": pid, "name": f"ingest bench {protocol} x{n_exp}"})
        r.raise_for_status()
        key = r.json()["api_key"]
    pr = PhaseResult(protocol, n_exp, batch, pid, sum(counts), len(counts), stats.llm_calls)
    endpoint = srv.otlp_grpc if protocol == "grpc" else srv.otlp_http
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = []
    for i in range(n_exp):
        idx = list(range(i, len(slices), n_exp))
        p = ctx.Process(
            target=exporter_main,
            args=(i, protocol, endpoint, key, str(payload), [slices[j] for j in idx], [counts[j] for j in idx],
                  args.timeout, args.max_attempts, ready, go, out),
            daemon=True,
        )  # fmt: skip
        p.start()
        procs.append(p)
    for _ in procs:
        ready.get(timeout=300)
    m0 = server_metrics(srv)
    cpu0 = tree_cpu_seconds(srv.pid) if srv.pid else None
    main0 = proc_cpu_seconds(srv.pid) if srv.pid else None
    pr.loadavg_before = os.getloadavg()
    busy0 = machine_busy_seconds()
    with RssSampler(srv.pid, 0.1) as rss:
        go.set()
        t_go = time.monotonic()
        reports: list[ExporterReport] = []
        while len(reports) < len(procs):
            try:
                reports.append(out.get(timeout=0.5))
            except queue.Empty:
                pass
            if srv.proc is not None and srv.proc.poll() is not None:
                t_dead = time.monotonic() - t_go
                for p in procs:
                    p.terminate()
                raise ServerDied(srv.proc.returncode, f"noticed {t_dead:.1f} s after the first send, "
                                 f"{len(reports)}/{len(procs)} exporters done\n" + crash_report(srv))  # fmt: skip
            if time.monotonic() - t_go > 3600:
                raise RuntimeError("exporters did not finish within an hour")
        if srv.proc is not None and srv.proc.poll() is not None:
            raise ServerDied(srv.proc.returncode, crash_report(srv))
        # Poll the API until every LLM call sent is counted.
        start_ns = stats.min_start_ns - 3600 * 10**9
        end_ns = stats.max_start_ns + 3600 * 10**9
        deadline = time.monotonic() + args.queryable_timeout
        seen = 0
        with httpx.Client(base_url=srv.api + "/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
            while True:
                seen = usage_requests(c, start_ns, end_ns)
                t_q = time.monotonic()
                if seen >= stats.llm_calls or t_q > deadline:
                    break
                time.sleep(args.poll_interval)
        cpu1 = tree_cpu_seconds(srv.pid) if srv.pid else None
        main1 = proc_cpu_seconds(srv.pid) if srv.pid else None
        busy1 = machine_busy_seconds()
        pr.server_rss_peak_mb = rss.peak / 2**20 if srv.pid else None
    for p in procs:
        p.join(30)
    m1 = server_metrics(srv)
    for rep in reports:
        if rep.fatal:
            pr.errors.append(f"exporter {rep.index}: {rep.fatal}")
    results = [x for rep in reports for x in rep.results]
    t_first = min(rep.t_first_send for rep in reports if rep.t_first_send)
    t_last = max(rep.t_last_ack for rep in reports)
    pr.wall_send_s = t_last - t_first
    pr.acked_spans_per_s = sum(x.spans for x in results if x.success) / pr.wall_send_s
    pr.queryable = seen >= stats.llm_calls
    pr.usage_requests_seen = seen
    pr.stored_spans_per_s = pr.spans / (t_q - t_first) if pr.queryable else 0.0
    pr.lag_ms = (t_q - t_last) * 1000
    pr.ack_ms = Percentiles.of([x.latency_s * 1000 for x in results if x.success])
    pr.attempt_ms = Percentiles.of([x.attempt_latency_s * 1000 for x in results if x.success])
    pr.retries = sum(x.attempts - 1 for x in results)
    pr.failed_exports = sum(1 for x in results if not x.success)
    pr.errors += sorted({x.error for x in results if x.error})[:5]
    pr.client_cpu_s = sum(rep.cpu_seconds for rep in reports)
    if cpu0 is not None and cpu1 is not None:
        pr.server_cpu_s = cpu1 - cpu0
    if main0 is not None and main1 is not None:
        pr.server_main_cpu_s = main1 - main0
    pr.machine_cpu_s = busy1 - busy0
    if m0.get("stored") is not None and m1.get("stored") is not None:
        pr.server_spans_stored_delta = int(m1["stored"] - m0["stored"])  # type: ignore[operator]
        ins = (m1["inserts"] or 0) - (m0["inserts"] or 0)
        pr.inserts = int(ins)
        if ins:
            pr.rows_per_insert = pr.server_spans_stored_delta / ins
            pr.insert_ms_avg = ((m1["insert_s"] or 0) - (m0["insert_s"] or 0)) / ins * 1000
    return pr


# ---- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=200_000, help="spans sent per phase (default 200k)")
    ap.add_argument("--exporters", default="4,8", help="concurrent exporter processes, comma-separated list (default 4,8)")
    ap.add_argument("--protocol", choices=("grpc", "http", "both"), default="both")
    ap.add_argument("--batch", type=int, default=512, help="spans per export (BatchSpanProcessor default 512)")
    ap.add_argument("--profile", choices=PROFILES, default="mixed",
                    help="heavy: message content on every trace (~3.7 KB/span); light: content capture off, the "
                         "instrumentations' default (~0.5 KB/span); mixed (default): 20 %% heavy, 80 %% light traces")  # fmt: skip
    ap.add_argument("--url", help="API base of a running server (http://host:8700); needs --key and --otlp-*")
    ap.add_argument("--key", help="API key of a running server's project (projects are created with it)")
    ap.add_argument("--otlp-http", help="OTLP/HTTP base of a running server (http://host:4318)")
    ap.add_argument("--otlp-grpc", help="OTLP/gRPC host:port of a running server")
    ap.add_argument("--gen-workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=float, default=30.0, help="per-export timeout, s")
    ap.add_argument("--max-attempts", type=int, default=8)
    ap.add_argument("--poll-interval", type=float, default=0.05)
    ap.add_argument("--queryable-timeout", type=float, default=300.0)
    ap.add_argument("--no-pipeline-baseline", action="store_true", help="skip the in-process server-pipeline baseline")
    ap.add_argument("--keep", action="store_true", help="keep the temp data dir")
    ap.add_argument("--json", action="store_true", help="also write bench/results/ingest-<time>.json")
    ap.add_argument("--pipeline-only", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pipeline_only:
        print(json.dumps(_pipeline_measure(Path(args.pipeline_only))))
        return 0
    exporters = [int(x) for x in args.exporters.split(",") if x.strip()]
    protocols = ["grpc", "http"] if args.protocol == "both" else [args.protocol]
    info = machine_info()
    work = Path(tempfile.mkdtemp(prefix="llmobs-bench-ingest-"))
    payload = work / "payloads.bin"

    print(f"server source tree: {server_root()}")
    print(f"machine: {info['cpus']} cores ({info['cpu_model']}), {info['mem_gib']} GiB, load {info['loadavg_at_start']}")
    print(f"generating {args.spans:,} spans, profile {args.profile}, in batches of {args.batch} ...", flush=True)
    slices, counts, stats, gen_s = generate(args.spans, args.batch, args.gen_workers, payload, args.profile)
    print(
        f"  {stats.spans:,} spans, {stats.traces:,} trace roots, {len(slices)} exports, {stats.llm_calls:,} LLM calls, "
        f"{stats.bytes / stats.spans:,.0f} B/span ({stats.bytes / 1e6:,.0f} MB) in {gen_s:.1f} s; "
        f"message content captured on {stats.content_traces / max(1, stats.traces):.0%} of traces"
    )
    print(f"  spans by dialect: {stats.by_dialect}")
    print(f"  LLM calls by model: {stats.by_model}", flush=True)

    dec = decode_baseline(payload, slices, counts)
    print(f"baseline decode ({dec['protobuf_backend']}): {dec['spans_per_s']:,.0f} spans/s, {dec['mb_per_s']:,.0f} MB/s", flush=True)
    pipe = None if args.no_pipeline_baseline else pipeline_baseline(payload, slices, counts)
    if pipe:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in pipe["us_per_span"].items())
        print(f"baseline server pipeline, no insert, 1 thread: {pipe['spans_per_s']:,.0f} spans/s (us/span: {stages})", flush=True)

    own = args.url is None
    if own:
        print("starting llmobs (python -m collector up, embedded chDB) ...", flush=True)
        srv = start_server(work / "data")
    else:
        if not (args.key and (args.otlp_http or args.otlp_grpc)):
            print("--url needs --key and --otlp-http / --otlp-grpc", file=sys.stderr)
            return 2
        srv = ServerProc(args.url.rstrip("/"), args.key, args.otlp_http, args.otlp_grpc)
    tag = time.strftime("%H%M%S")
    phases: list[PhaseResult] = []
    hwm = n_procs = None
    crash = ""
    try:
        for proto in protocols:
            if crash:
                break
            for n in exporters:
                print(f"phase {proto} x{n} ...", flush=True)
                try:
                    pr = run_phase(srv, proto, n, args.batch, payload, slices, counts, stats, args, tag)
                except (ServerDied, httpx.TransportError) as exc:
                    rc = srv.proc.poll() if srv.proc else None
                    crash = f"phase {proto} x{n}: server gone (exit code {rc}{_signame(rc)}): {exc}"
                    print("  " + crash, flush=True)
                    break
                phases.append(pr)
                print(
                    f"  stored {pr.stored_spans_per_s:,.0f} spans/s, acked {pr.acked_spans_per_s:,.0f}, "
                    f"ack p50 {pr.ack_ms.p50:.0f} ms p99 {pr.ack_ms.p99:.0f} ms, lag {pr.lag_ms:.0f} ms, "
                    f"retries {pr.retries}, errors {pr.errors or '-'}",
                    flush=True,
                )
        if srv.pid and srv.proc.poll() is None:
            hwm = sum(proc_rss_bytes(p)[1] for p in proc_tree(srv.pid))
            n_procs = len(proc_tree(srv.pid))
    finally:
        rc = srv.stop() if own else None
    if own and rc not in (0, -15) and not crash:
        print(f"server exited with {rc}{_signame(rc)} at shutdown:\n{crash_report(srv)}", file=sys.stderr)

    base = dec["spans_per_s"]
    rows: list[list[Any]] = [
        ["decode only (upb, 1 thread)", "-", "-", dec["spans_per_s"], "-", "1.00", *["-"] * 10],
    ]
    if pipe:
        rows.append(["server pipeline, no insert (1 thread)", "-", "-", pipe["spans_per_s"], "-",
                     f"{pipe['spans_per_s'] / base:.3f}", *["-"] * 10])  # fmt: skip
    for p in phases:
        rows.append([
            f"OTLP/{'gRPC' if p.protocol == 'grpc' else 'HTTP protobuf'} end to end", str(p.exporters), str(p.batch),
            p.stored_spans_per_s if p.queryable else "not complete", p.acked_spans_per_s,
            f"{p.stored_spans_per_s / base:.3f}", p.ack_ms.p50, p.ack_ms.p99, p.lag_ms,
            f"{p.retries}/{p.failed_exports}",
            f"{p.server_cpu_s / p.wall_send_s:.2f}" if p.server_cpu_s is not None else "n/a",
            (f"{p.server_main_cpu_s / p.wall_send_s:.2f} / {(p.server_cpu_s - p.server_main_cpu_s) / p.wall_send_s:.2f}"
             if p.server_cpu_s is not None and p.server_main_cpu_s is not None else "n/a"),
            f"{p.client_cpu_s / p.wall_send_s:.2f}",
            (f"{(p.machine_cpu_s - p.server_cpu_s - p.client_cpu_s) / p.wall_send_s:.2f}"
             if p.machine_cpu_s is not None and p.server_cpu_s is not None else "n/a"),
            " ".join(f"{x:.1f}" for x in p.loadavg_before) if p.loadavg_before else "n/a",
            p.server_rss_peak_mb,
        ])  # fmt: skip
    print()
    print(f"Ingest, profile {args.profile}: {stats.spans:,} spans per run, {stats.bytes / stats.spans:,.0f} B/span "
          f"(content on {stats.content_traces / max(1, stats.traces):.0%} of traces), {args.batch} spans/export, "
          f"{info['cpus']} cores shared by server and clients")  # fmt: skip
    print(table(
        ["path", "exporters", "batch", "stored spans/s", "acked spans/s", "ratio to decode", "ack p50 ms",
         "ack p99 ms", "lag ms", "retries/failed", "server cores", "server main / workers", "client cores",
         "other cores", "loadavg before", "server RSS peak MB"],
        rows,
    ))  # fmt: skip
    print()
    print(table(
        ["run", "usage LLM calls (seen/sent)", "llmobs_spans_stored delta", "inserts", "rows/insert", "insert ms avg",
         "attempt p50 ms", "attempt p99 ms", "ack max ms"],
        [[f"{p.protocol} x{p.exporters}", f"{p.usage_requests_seen:,}/{p.llm_calls_sent:,}", p.server_spans_stored_delta,
          p.inserts, p.rows_per_insert, p.insert_ms_avg, p.attempt_ms.p50, p.attempt_ms.p99, p.ack_ms.max]
         for p in phases],
    ))  # fmt: skip
    if hwm:
        print(f"\nserver peak RSS over the whole run (sum of VmHWM over its {n_procs} process(es)): {hwm / 2**20:,.0f} MB")
    print("server cores / client cores = CPU seconds used during the run (server: its whole process tree) / wall seconds; "
          f"{os.cpu_count()} = the whole machine.  server main / workers: the server process alone (event loop, "
          "receivers, writer, chDB engine threads) / its ingest worker processes (decode, normalize, price, rows).  "
          "other cores: the machine's busy CPU (/proc/stat) minus server and clients over the phase: work that "
          "is not this benchmark (someone else's tests); above ~0.2 the figures are contended")
    if crash:
        print(f"\nRUN INCOMPLETE: {crash}")
    if args.json:
        path = write_json("ingest", {
            "crash": crash,
            "machine": info, "args": vars(args), "traffic": asdict(stats), "generation_s": gen_s,
            "baseline_decode": dec, "baseline_pipeline": pipe, "phases": [asdict(p) for p in phases],
            "server_peak_rss_bytes": hwm,
        })  # fmt: skip
        print(f"results: {path}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0 if not crash and all(p.queryable and not p.failed_exports for p in phases) else 1


def _signame(rc: int | None) -> str:
    if rc is not None and rc < 0:
        try:
            return f", signal {signal.Signals(-rc).name}"
        except ValueError:
            return f", signal {-rc}"
    return ""


if __name__ == "__main__":
    sys.exit(main())
