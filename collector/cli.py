"""`llmobs` command line: start the server, and talk to a running one.

Commands other than `up` and `migrate` go through the HTTP API, because only
the server process may open the embedded ClickHouse directory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from collector.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="LLM observability and cost analytics.")

KEY_FILE = "default-api-key"


def _key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def _announce(settings: Settings):  # type: ignore[no-untyped-def]
    def announce(state: Any) -> None:
        key_file = _key_path(settings)
        if state.default_key:
            key_file.write_text(state.default_key + "\n")
            key_file.chmod(0o600)
        key = state.default_key or (key_file.read_text().strip() if key_file.exists() else None)
        h = settings.host
        lines = [
            "llmobs is running",
            f"  data directory      {settings.data_dir}",
            f"  OTLP/gRPC           http://{h}:{settings.otlp_grpc_port}",
            f"  OTLP/HTTP           http://{h}:{settings.otlp_http_port}  (POST /v1/traces, /v1/logs, /v1/metrics)",
            f"  API                 http://{h}:{settings.api_port}/api/v1  (docs: http://{h}:{settings.api_port}/docs)",
        ]
        if settings.auth_disabled:
            lines.append("  auth                disabled (every request acts on the default project)")
        elif key:
            lines.append(f"  API key ({settings.default_project})   {key}")
        else:
            lines.append(f"  API key             create one with: llmobs keys create (the first was shown at first start)")
        lines += [
            "",
            "Send traces from any OpenTelemetry SDK:",
            f"  export OTEL_EXPORTER_OTLP_ENDPOINT=http://{h}:{settings.otlp_http_port}",
            "  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            f"  export OTEL_EXPORTER_OTLP_HEADERS='authorization=Bearer {key or '<key>'}'",
        ]
        print("\n".join(lines), flush=True)

    return announce


@app.command()
def up(
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (env LLMOBS_DATA_DIR)")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Local only: accept requests without API keys")] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on (env LLMOBS_HOST)")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Send sample traffic once the server is up")] = False,
    no_dashboard: Annotated[
        bool, typer.Option("--no-dashboard", help="Do not start the dashboard (env LLMOBS_DASHBOARD_ENABLED=false)")
    ] = False,
) -> None:
    """Start llmobs: OTLP receivers (gRPC 4317, HTTP 4318), the API (8700) and the dashboard (8501)."""
    overrides: dict[str, Any] = {}
    if no_dashboard:
        overrides["dashboard_enabled"] = False
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if no_auth:
        overrides["auth_disabled"] = True
    if host:
        overrides["host"] = host
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from collector.server import serve

    companions = _Companions(settings, demo)

    def announce(state: Any) -> None:
        _announce(settings)(state)
        companions.start(state)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve(settings, stop=stop, announce=announce)
        finally:
            companions.stop()

    asyncio.run(main())


class _Companions:
    """What `llmobs up` runs beside the server once it answers: the dashboard
    process and, with --demo, one round of sample traffic (on a thread: the
    server handles those exports on this process's event loop)."""

    def __init__(self, settings: Settings, demo: bool) -> None:
        self.settings = settings
        self.demo = demo
        self.proc: Any = None

    def start(self, state: Any) -> None:
        s = self.settings
        key = state.default_key or _default_key(s)
        if s.dashboard_enabled:
            from dashboard import launch

            api_url = s.api_url or launch.local_url(s.host, s.api_port)
            log_file = open(s.data_dir / "dashboard.log", "ab")  # noqa: SIM115 - lives as long as the process
            self.proc = launch.start(api_url, key, s.host, s.dashboard_port, stdout=log_file, stderr=log_file)
            print(f"\nDashboard: {launch.local_url(s.host, s.dashboard_port)}  (log: {s.data_dir / 'dashboard.log'})",
                  flush=True)  # fmt: skip
        if self.demo:
            import threading

            otlp = f"http://{'127.0.0.1' if s.host in ('0.0.0.0', '::') else s.host}:{s.otlp_http_port}"
            threading.Thread(target=_send_demo, args=(otlp, key), kwargs={"quiet": True}, daemon=True).start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001 - a stuck child is killed
                self.proc.kill()


def _default_key(s: Settings) -> str | None:
    return s.api_key or (_key_path(s).read_text().strip() if _key_path(s).exists() else None)


def _send_demo(otlp_http: str, key: str | None, *, traces: int = 600, days: float = 3.0, seed: int = 7,
               quiet: bool = False) -> bool:  # fmt: skip
    from dashboard import demo

    batch = demo.generate(traces, days=days, seed=seed, now_ns=time.time_ns())
    try:
        for _ in demo.send(batch, otlp_http, key):
            pass
    except Exception as exc:  # noqa: BLE001 - reported, never fatal to the server
        typer.echo(f"demo traffic failed: {exc}", err=True)
        return False
    msg = (f"demo: sent {batch.traces} traces ({batch.spans} spans, {batch.llm_calls} LLM calls, "
           f"{batch.errors} failed) over the last {days:g} days")  # fmt: skip
    typer.echo(msg, err=quiet)
    return True


@app.command()
def migrate(dry_run: Annotated[bool, typer.Option(help="Print the SQL only")] = False) -> None:
    """Apply ClickHouse and metadata migrations (the server also does this at start)."""
    from storage.clickhouse import migrate as ch_migrate
    from storage.clickhouse.client import ClickHouseTarget, connect
    from storage.metadata.db import make_engine, upgrade

    settings = Settings()
    client = connect(ClickHouseTarget(settings.effective_clickhouse_url, settings.clickhouse_cluster))
    try:
        sql = ch_migrate.upgrade(
            client, ch_migrate.SchemaOptions(settings.clickhouse_database, settings.clickhouse_cluster), dry_run=dry_run
        )
    finally:
        client.close()
    for stmt in sql:
        print(stmt + ";\n")
    if not dry_run:
        upgrade(make_engine(settings.effective_database_url))
        print(f"applied {len(sql)} ClickHouse statement(s); metadata at head")


# ---- commands that use the API of a running server ---------------------------------------


def _client(api: str | None, api_key: str | None) -> httpx.Client:
    settings = Settings()
    base = api or os.environ.get("LLMOBS_API_URL") or f"http://{settings.host}:{settings.api_port}"
    key = api_key or os.environ.get("LLMOBS_API_KEY")
    if not key and _key_path(settings).exists():
        key = _key_path(settings).read_text().strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base.rstrip("/") + "/api/v1", headers=headers, timeout=30)


def _check(resp: httpx.Response) -> Any:
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        typer.echo(f"error {resp.status_code}: {detail}", err=True)
        raise typer.Exit(1)
    return resp.json()


ApiOpt = Annotated[str | None, typer.Option(help="API base URL (env LLMOBS_API_URL)")]
KeyOpt = Annotated[str | None, typer.Option(help="API key (env LLMOBS_API_KEY)")]


@app.command()
def reprice(
    since: Annotated[str, typer.Option(help="Start: ISO-8601 or unix seconds")],
    until: Annotated[str | None, typer.Option(help="End (default now)")] = None,
    project: Annotated[str | None, typer.Option(help="Project (must be the API key's project)")] = None,
    api: ApiOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Recompute costs for a time range after prices changed; prints before/after."""
    with _client(api, api_key) as c:
        mine = _check(c.get("/project"))["id"]
        if project and project != mine:
            typer.echo(f"error: the API key belongs to project {mine!r}, not {project!r}", err=True)
            raise typer.Exit(2)
        job = _check(c.post("/jobs/reprice", json={"since": since, "until": until}))
        last = -1.0
        while job["status"] in ("queued", "running"):
            if job["progress"] != last:
                last = job["progress"]
                typer.echo(f"repricing {mine}: {last:6.1%}", err=True)
            time.sleep(0.5)
            job = _check(c.get(f"/jobs/{job['id']}"))
        if job["status"] != "succeeded":
            typer.echo(f"reprice failed: {job.get('error')}", err=True)
            raise typer.Exit(1)
        r = job["result"]
        typer.echo(f"{'':10}{'calls':>10}{'priced':>10}{'cost (USD)':>22}")
        for label in ("before", "after"):
            s = r[label]
            typer.echo(f"{label:10}{s['calls']:>10}{s['priced']:>10}{s['cost_total']:>22}")
        typer.echo(f"spans examined {r['spans_examined']}, changed {r['spans_changed']}")


keys_app = typer.Typer(help="API keys of the current project")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(name: str = "cli", api: ApiOpt = None, api_key: KeyOpt = None) -> None:
    with _client(api, api_key) as c:
        typer.echo(_check(c.post("/keys", json={"name": name}))["api_key"])


@keys_app.command("list")
def keys_list(api: ApiOpt = None, api_key: KeyOpt = None) -> None:
    with _client(api, api_key) as c:
        for k in _check(c.get("/keys"))["items"]:
            state = "revoked" if k["revoked_at"] else "active"
            typer.echo(f"{k['id']:>5}  {k['prefix']}…  {k['name']}  {state}")


@keys_app.command("revoke")
def keys_revoke(key_id: int, api: ApiOpt = None, api_key: KeyOpt = None) -> None:
    with _client(api, api_key) as c:
        _check(c.delete(f"/keys/{key_id}"))
        typer.echo(f"revoked key {key_id}")


projects_app = typer.Typer(help="Projects")
app.add_typer(projects_app, name="projects")


@projects_app.command("create")
def projects_create(
    project_id: str,
    retention_days: Annotated[int, typer.Option(help="Days spans are kept")] = 30,
    api: ApiOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Create a project; prints its first API key (shown once)."""
    with _client(api, api_key) as c:
        r = _check(c.post("/projects", json={"id": project_id, "retention_days": retention_days}))
        typer.echo(r["api_key"])


prices_app = typer.Typer(help="Price overrides and self-hosted models of the current project")
app.add_typer(prices_app, name="prices")


@prices_app.command("add")
def prices_add(
    model_pattern: Annotated[str, typer.Argument(help="Regular expression matched in full against the model")],
    input_per_mtok: Annotated[str | None, typer.Option("--input", help="USD per million input tokens")] = None,
    output_per_mtok: Annotated[str | None, typer.Option("--output", help="USD per million output tokens")] = None,
    cache_read_per_mtok: Annotated[str | None, typer.Option("--cache-read")] = None,
    cache_write_per_mtok: Annotated[str | None, typer.Option("--cache-write")] = None,
    gpu_hour_usd: Annotated[str | None, typer.Option("--gpu-hour", help="Self-hosted: USD per GPU-hour")] = None,
    tokens_per_second: Annotated[str | None, typer.Option("--tokens-per-second", help="Self-hosted throughput")] = None,
    provider: Annotated[str | None, typer.Option(help="Only for this provider")] = None,
    api: ApiOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Add a price; spans priced from now on use it (`llmobs reprice` for the past)."""
    body = {
        "model_pattern": model_pattern, "provider": provider, "input_per_mtok": input_per_mtok,
        "output_per_mtok": output_per_mtok, "cache_read_per_mtok": cache_read_per_mtok,
        "cache_write_per_mtok": cache_write_per_mtok, "gpu_hour_usd": gpu_hour_usd,
        "tokens_per_second": tokens_per_second,
    }  # fmt: skip
    with _client(api, api_key) as c:
        r = _check(c.post("/prices", json={k: v for k, v in body.items() if v is not None}))
        typer.echo(f"price {r['id']} for {r['model_pattern']!r} added")


@prices_app.command("list")
def prices_list(api: ApiOpt = None, api_key: KeyOpt = None) -> None:
    with _client(api, api_key) as c:
        for p in _check(c.get("/prices"))["items"]:
            parts = [f"{k}={p[k]}" for k in ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok",
                                              "cache_write_per_mtok", "gpu_hour_usd", "tokens_per_second") if p.get(k)]  # fmt: skip
            typer.echo(f"{p['id']:>5}  {p['model_pattern']}  {' '.join(parts)}")


# ---- evaluation worker (issue 4) ---------------------------------------------------------


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run every due evaluator once, then exit")] = False,
) -> None:
    """Run the evaluation worker on its own (against a ClickHouse server).

    With the embedded default (chDB) the worker already runs inside `llmobs up`:
    only that process may open the data directory.  Several `llmobs worker`
    replicas may share one ClickHouse server and one PostgreSQL; each due run
    is claimed by exactly one of them."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.effective_clickhouse_url.startswith("chdb:"):
        typer.echo(
            "error: the embedded ClickHouse (chDB) can only be opened by the `llmobs up` process, which runs the "
            "worker itself; set LLMOBS_CLICKHOUSE_URL to a ClickHouse server to run workers separately",
            err=True,
        )
        raise typer.Exit(2)
    from contextlib import AsyncExitStack

    from evaluators.worker.app import build_services, start_loops
    from storage.clickhouse.client import ClickHouseTarget
    from storage.metadata.db import make_engine, upgrade

    upgrade(make_engine(settings.effective_database_url))
    target = ClickHouseTarget(settings.effective_clickhouse_url, settings.clickhouse_cluster, settings.clickhouse_database)
    services = build_services(settings, target)
    if once:
        ran = services.worker.run_due()
        typer.echo(f"ran {len(ran)} evaluator run(s)")
        return

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with AsyncExitStack() as stack:
            await start_loops(services, stack)
            typer.echo(f"llmobs worker {services.worker.name} running", err=True)
            await stop.wait()

    asyncio.run(main())


eval_app = typer.Typer(help="Evaluators of the current project (through the API)")
app.add_typer(eval_app, name="eval")


@eval_app.command("backfill")
def eval_backfill(
    evaluator: Annotated[str, typer.Option(help="Evaluator config name (or an evaluator with one config)")],
    since: Annotated[str, typer.Option(help="Start: ISO-8601 or unix seconds")],
    until: Annotated[str | None, typer.Option(help="End (default now)")] = None,
    api: ApiOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Score past spans with an evaluator; runs in the server, shown with a progress bar."""
    with _client(api, api_key) as c:
        job = _check(c.post("/evaluations/backfill", json={"evaluator": evaluator, "since": since, "until": until}))
        with typer.progressbar(length=1000, label=f"backfill {evaluator}", file=sys.stderr) as bar:
            done = 0
            while job["status"] in ("queued", "running"):
                step = int(job["progress"] * 1000) - done
                if step > 0:
                    bar.update(step)
                    done += step
                time.sleep(0.3)
                job = _check(c.get(f"/jobs/{job['id']}"))
            if job["status"] == "succeeded":
                bar.update(1000 - done)
        if job["status"] != "succeeded":
            typer.echo(f"backfill failed: {job.get('error')}", err=True)
            raise typer.Exit(1)
        r = job["result"]
        typer.echo(f"spans read {r['spans_read']}, spans scored {r['spans_scored']}, results written {r['results_written']}")


@app.command()
def dashboard(
    port: Annotated[int | None, typer.Option(help="Port (env LLMOBS_DASHBOARD_PORT)")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (env LLMOBS_HOST)")] = None,
    api: ApiOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Start the dashboard alone, against a running llmobs API."""
    from dashboard import launch

    s = Settings()
    h, p = host or s.host, port or s.dashboard_port
    key = api_key or _default_key(s)
    url = api or s.api_url or launch.local_url(s.host, s.api_port)
    typer.echo(f"llmobs dashboard on {launch.local_url(h, p)} (API {url})")
    proc = launch.start(url, key, h, p)
    try:
        raise typer.Exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        raise typer.Exit(proc.wait()) from None


@app.command()
def demo(
    traces: Annotated[int, typer.Option(help="How many traces", min=1, max=1_000_000)] = 600,
    days: Annotated[float, typer.Option(help="Spread over the last N days", min=0.01, max=30)] = 3.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same traffic shape)")] = 7,
    otlp: Annotated[str | None, typer.Option(help="OTLP/HTTP base URL (default: this machine's llmobs)")] = None,
    api_key: KeyOpt = None,
) -> None:
    """Send realistic sample traffic through the OTLP endpoint of a running llmobs."""
    s = Settings()
    key = api_key or _default_key(s)
    url = otlp or f"http://{'127.0.0.1' if s.host in ('0.0.0.0', '::') else s.host}:{s.otlp_http_port}"
    if not _send_demo(url, key, traces=traces, days=days, seed=seed):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    sys.exit(app())


from collector.replay_cli import pool_app, replay_app  # noqa: E402 - sub-commands defined in their own module

app.add_typer(replay_app, name="replay")
app.add_typer(pool_app, name="pool")
