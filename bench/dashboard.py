"""Dashboard benchmark: each page's API reads and a real page load in headless
Chromium, over a project holding --spans spans (default 1 M).

    python -m bench.dashboard [--spans 1000000] [--repeats 5] [--json]

1. `python -m collector migrate` on a fresh data dir.
2. In a child process that owns the chDB directory alone: bench/query.py's
   in-engine generator (`generation_sql`: 50 services, 20 models, 100k users,
   1M sessions, 3 spans per trace, 30 days, semconv messages) writes the
   spans, all in project "default" (the one the dashboard reads) instead of
   spread over ten projects; OPTIMIZE FINAL; the minute rollups
   are rebuilt with the server's own code (rows written here bypass the writer).
3. `python -m collector up` on that directory, and the dashboard process
   (`python -m streamlit run dashboard/app.py`) against it with its answer
   cache off (LLMOBS_DASHBOARD_CACHE_SECONDS=0), so every load reaches the API.
4. API: for each page, the exact list of calls the page makes (the views'
   own `calls()` functions), sent side by side as the dashboard sends them;
   one warm-up, then --repeats timed rounds.  Baseline: GET /healthz.
5. Browser: Debian's chromium through Playwright; each page opened in a new
   context (a new Streamlit session) until the script run has finished and
   its main element is on screen; one warm-up, then --repeats loads.
   Baseline: the Settings page (metadata only, no span reads).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/dashboard.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import httpx

from bench._common import free_port, machine_info, run_migrate, start_server, table, write_json

DAY_NS = 86_400 * 10**9
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def generate(data_dir: Path, n_spans: int) -> dict[str, Any]:
    """Child process: all generated spans in project "default", merged, with rollups."""
    import clickhouse_connect

    from bench.query import generation_sql
    from storage.clickhouse.rollups import Rollups
    from storage.clickhouse.tables import Tables

    dsn = f"chdb://{data_dir / 'clickhouse'}"
    client = clickhouse_connect.get_client(dsn=dsn)
    settings = {"max_partitions_per_insert_block": 1000, "max_insert_threads": 2, "max_threads": 2}
    now_ns = time.time_ns()
    t0 = time.perf_counter()
    sql = generation_sql(n_spans, now_ns)
    spread = "if(th % 100 < 30, 'default', concat('proj-', toString(th % 9 + 1))) AS proj"
    if spread not in sql:
        raise RuntimeError("bench/query.py's generator changed how it picks projects; update bench/dashboard.py")
    client.command(sql.replace(spread, "'default' AS proj"), settings=settings)
    client.command("OPTIMIZE TABLE spans FINAL")
    ru = Rollups(lambda: clickhouse_connect.get_client(dsn=dsn), Tables())
    for d in range(32):
        lo = now_ns - (32 - d) * DAY_NS
        ru.mark("default", lo, lo + DAY_NS)
    ru.refresh()
    ru.close()
    row = client.query("SELECT count(), uniq(trace_id), countIf(counts_usage = 1) FROM spans FINAL WHERE project_id = 'default'").result_rows[0]
    trace_id = client.query(
        "SELECT toString(trace_id) FROM spans WHERE project_id = 'default' AND span_type = 'llm' "
        "ORDER BY start_time DESC LIMIT 1"
    ).result_rows[0][0]
    client.close()
    return {"spans": int(row[0]), "traces": int(row[1]), "llm_calls": int(row[2]), "trace_id": trace_id,
            "generate_s": time.perf_counter() - t0}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, engine threads included (chDB runs
    inside the server), from /proc: unlike wall time it barely moves when
    other work shares the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _label(call: Any) -> str:
    extras = [f"{k}={v}" for k, v in call.params if k in ("group_by", "order_by")]
    return call.path + (f" ({', '.join(extras)})" if extras else "")


def _timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def page_calls(trace_id: str) -> dict[str, list[Any]]:
    from dashboard import filters
    from dashboard.views import alerts_page, costs, overview, quality, replay_page, traces, users

    f = filters.validate({"range": "7d"})
    return {
        "Overview (7 days)": overview.calls(f),
        "Costs by model (7 days)": costs.calls(f, "model"),
        "Costs by user (7 days)": costs.calls(f, "user"),
        "Costs by session (7 days)": costs.calls(f, "session"),
        "Traces list (7 days)": traces.list_calls(f),
        "Traces, slowest first (7 days)": traces.list_calls(f, "duration"),
        "Trace view": traces.trace_calls(trace_id),
        "Users (7 days)": users.calls(f),
        "Quality (7 days)": quality.calls(f),
        "Alerts": alerts_page.calls(),
        "Replay": replay_page.calls(),
    }


PAGES = {  # page -> (path, element that shows the page is drawn)
    "Overview (7 days)": ("/?range=7d", "[data-testid=stMetricValue]"),
    "Costs by model (7 days)": ("/costs?range=7d", "[data-testid=stMetricValue]"),
    "Traces list (7 days)": ("/traces?range=7d", "[data-testid=stDataFrame]"),
    "Trace view": ("/traces?trace={trace_id}", "[data-testid=stChatMessage], [data-testid=stMetricValue]"),
    "Costs by user (7 days)": ("/costs?range=7d&by=user", "[data-testid=stMetricValue]"),
    "Users (7 days)": ("/users?range=7d", "[data-testid=stDataFrame]"),
    "Quality (7 days)": ("/quality?range=7d", "h1"),
    "Alerts": ("/alerts", "[data-testid=stMetricValue]"),
    "Replay": ("/replay", "h1"),
    "Settings (baseline)": ("/settings", "[data-testid=stDataFrame]"),
}


def browser_loads(url: str, trace_id: str, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for name, (path, ready) in PAGES.items():
                def load() -> None:
                    ctx = b.new_context(viewport={"width": 1440, "height": 1000})
                    page = ctx.new_page()
                    page.goto(url + path.format(trace_id=trace_id))
                    page.wait_for_selector(ready, timeout=120_000)
                    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", state="attached",
                                           timeout=120_000)  # fmt: skip
                    if page.get_by_test_id("stException").count() or page.get_by_test_id("stAlertContentError").count():
                        raise RuntimeError(f"{name}: the page shows an error")
                    ctx.close()

                out[name] = _timed(load, repeats)
        finally:
            b.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="also write bench/results/dashboard-<time>.json")
    ap.add_argument("--generate-only", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.generate_only:
        import json

        print(json.dumps(generate(Path(args.generate_only), args.spans)))
        return 0

    from dashboard import launch
    from dashboard.api import ApiClient

    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="llmobs-bench-dash-") as tmp:
        data_dir = Path(tmp) / "data"
        run_migrate(data_dir)
        t0 = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "bench.dashboard", "--generate-only", str(data_dir), "--spans", str(args.spans)],
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        import json

        gen = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"generated {gen['spans']:,} spans ({gen['traces']:,} traces, {gen['llm_calls']:,} LLM calls) "
              f"in project default in {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
        srv = start_server(data_dir)
        dash_port = free_port()
        dash = launch.start(srv.api, srv.key, "127.0.0.1", dash_port, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env_extra={"LLMOBS_DASHBOARD_CACHE_SECONDS": "0"})  # fmt: skip
        try:
            api = ApiClient(srv.api, srv.key, 120)
            health = _timed(lambda: httpx.get(srv.api + "/healthz", timeout=10), args.repeats)
            api_rows = []
            api_times: dict[str, list[float]] = {}
            for name, calls in page_calls(gen["trace_id"]).items():
                single = {_label(c): statistics.median(_timed(lambda c=c: api.get(c.path, c.params), 3)) for c in calls}
                cpu0 = cpu_seconds(srv.proc.pid)
                api_times[name] = _timed(lambda calls=calls: api.fetch_all(list(calls)), args.repeats)
                cpu_ms = (cpu_seconds(srv.proc.pid) - cpu0) / (args.repeats + 1) * 1000  # + the warm-up round
                slowest = max(single, key=lambda k: single[k])
                med = statistics.median(api_times[name])
                api_rows.append([name, str(len(calls)), f"{med * 1000:,.0f}", f"{min(api_times[name]) * 1000:,.0f}",
                                 f"{max(api_times[name]) * 1000:,.0f}", f"{cpu_ms:,.0f}",
                                 f"{slowest}: {single[slowest] * 1000:,.0f} ms",
                                 f"{med / statistics.median(health):,.0f}x"])  # fmt: skip
            deadline = time.monotonic() + 120
            url = f"http://127.0.0.1:{dash_port}"
            while True:
                try:
                    if httpx.get(url + "/_stcore/health", timeout=1).text == "ok":
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the dashboard did not start")
                time.sleep(0.3)
            loads = browser_loads(url, gen["trace_id"], args.repeats)
        finally:
            dash.terminate()
            dash.wait(15)
            srv.proc.terminate()
            srv.proc.wait(60)
    base = statistics.median(loads["Settings (baseline)"])
    print(f"\nmachine: {info['cpu_model']}, {info['cpus']} cores, {info['mem_gib']} GiB; "
          f"load average at start {', '.join(f'{x:.1f}' for x in info['loadavg_at_start'])}")
    print(f"\nAPI reads per page, sent side by side as the dashboard does ({gen['spans']:,} spans in the project; "
          f"median of {args.repeats}; baseline GET /healthz {statistics.median(health) * 1000:.1f} ms)")  # fmt: skip
    print(table(["page", "calls", "median ms", "min ms", "max ms", "server CPU ms", "slowest call (median)", "x /healthz"],
                api_rows))  # fmt: skip
    print(f"load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows = []
    for name, ts in loads.items():
        med = statistics.median(ts)
        rows.append([name, f"{med:,.2f}", f"{min(ts):,.2f}", f"{max(ts):,.2f}", f"{med / base:,.2f}x",
                     "yes" if med < 2 else "NO"])  # fmt: skip
    print(f"\nPage load in headless Chromium, new session each time, until drawn (median of {args.repeats})")
    print(table(["page", "median s", "min s", "max s", "x Settings", "< 2 s"], rows))
    if args.json:
        path = write_json("dashboard", {"machine": info, "generated": gen, "api_s": api_times, "health_s": health,
                                        "browser_s": loads, "repeats": args.repeats})  # fmt: skip
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
