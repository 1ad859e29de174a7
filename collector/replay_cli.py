"""`llmobs replay ...` and `llmobs pool up`: replay commands talk to a running
server (which owns the embedded ClickHouse); `pool up` supervises vLLM
servers on this machine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

replay_app = typer.Typer(help="Replay captured LLM calls against variants and compare them", no_args_is_help=True)
pool_app = typer.Typer(help="Supervise a pool of vLLM OpenAI servers", no_args_is_help=True)

ApiOpt = Annotated[str | None, typer.Option(help="API base URL (env LLMOBS_API_URL)")]
KeyOpt = Annotated[str | None, typer.Option(help="API key (env LLMOBS_API_KEY)")]
SELECT_KEYS = {"start": "start", "since": "start", "end": "end", "until": "end", "service": "service",
               "model": "model", "provider": "provider", "user": "user_id", "user_id": "user_id",
               "session": "session_id", "session_id": "session_id", "status": "status", "text": "text"}  # fmt: skip


def parse_from(expr: str) -> dict[str, Any]:
    """`service=chat,model=gpt-4o,since=2026-11-01,attr.route=/ask` -> selection fields."""
    out: dict[str, Any] = {"attributes": {}}
    for item in filter(None, (x.strip() for x in expr.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--from items look like key=value, got {item!r}")
        if key.startswith("attr."):
            out["attributes"][key[5:]] = value
        elif key in SELECT_KEYS:
            out[SELECT_KEYS[key]] = value
        else:
            raise typer.BadParameter(f"unknown --from key {key!r}; use {sorted(SELECT_KEYS)} or attr.<key>")
    return out


def _api(api: str | None, api_key: str | None):  # type: ignore[no-untyped-def]
    from collector import cli

    return cli._client(api, api_key), cli._check  # noqa: SLF001


@contextmanager
def _reachable(c) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A down or unreachable server is one clear line, not a traceback."""
    import httpx

    try:
        yield
    except httpx.TransportError as exc:
        typer.echo(f"error: cannot reach the llmobs API at {c.base_url} ({type(exc).__name__}: {exc}); "
                   "is `llmobs up` running?", err=True)  # fmt: skip
        raise typer.Exit(1) from None


def follow(c, check, job: dict[str, Any], label: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Poll the job, drawing a progress bar on stderr, until it finishes."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=1.0)
        while job["status"] in ("queued", "running"):
            bar.update(task, completed=job["progress"])
            time.sleep(0.5)
            job = check(c.get(f"/jobs/{job['id']}"))
        bar.update(task, completed=job["progress"])
    return job


@replay_app.command("run")
def replay_run(
    variants: Annotated[Path | None, typer.Option("--variants", help="YAML: variants, baseline, options, thresholds")] = None,
    from_: Annotated[str, typer.Option("--from", help="filter: service=..,model=..,since=..,user=..,attr.<k>=..")] = "",
    limit: Annotated[int, typer.Option(help="sample size")] = 100,
    stratify_by: Annotated[str | None, typer.Option(help="model | service | route | operation | attr:<key>")] = None,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    resume: Annotated[str | None, typer.Option(help="continue this run id where it stopped")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    api: ApiOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Submit a replay run to the server, follow it, and print the report."""
    import yaml

    from replay.config import load_spec
    from replay.render import render

    c, check = _api(api, api_key)
    with c, _reachable(c):
        if resume:
            sub = check(c.post(f"/replay/runs/{resume}/resume"))
        elif variants is None:
            typer.echo("error: --variants is required (unless --resume)", err=True)
            raise typer.Exit(2)
        else:
            try:
                spec = load_spec(variants)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                typer.echo(f"error: {variants}: {exc}", err=True)
                raise typer.Exit(2) from None
            selection = {**parse_from(from_), "limit": limit, "stratify_by": stratify_by, "seed": seed}
            sub = check(c.post("/replay/runs", json={"selection": selection, **spec.model_dump()}))
        run_id = sub["run_id"]
        typer.echo(f"replay run {run_id}", err=True)
        job = follow(c, check, sub["job"], "replaying")
        if job["status"] != "succeeded":
            typer.echo(f"replay failed: {job.get('error')}  (resume with --resume {run_id})", err=True)
            raise typer.Exit(1)
        report = check(c.get(f"/replay/runs/{run_id}/report"))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        render(report)


@replay_app.command("report")
def replay_report(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    api: ApiOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Print the stored report of a run."""
    from replay.render import render

    c, check = _api(api, api_key)
    with c, _reachable(c):
        report = check(c.get(f"/replay/runs/{run_id}/report"))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        render(report)


@pool_app.command("up")
def pool_up(config: Annotated[Path, typer.Argument(help="pool YAML")]) -> None:
    """Start and supervise the pool's vLLM servers until Ctrl-C / SIGTERM."""
    from replay.supervisor import load_pool, supervise

    try:
        pool = load_pool(config)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {config}: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(supervise(pool))
