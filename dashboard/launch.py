"""Start the Streamlit dashboard as its own process.

It runs beside the server, not inside it: Streamlit owns its own event loop
and web server, and the dashboard must only ever see the HTTP API, so a
separate process with the API URL and key in its environment is the honest
boundary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal", "--theme.base", "light",
    ]  # fmt: skip


def environment(api_url: str, api_key: str | None) -> dict[str, str]:
    env = {**os.environ, "LLMOBS_API_URL": api_url}
    if api_key:
        env["LLMOBS_API_KEY"] = api_key
    return env


def start(
    api_url: str, api_key: str | None, host: str, port: int, *, env_extra: dict[str, str] | None = None, **popen: object
) -> subprocess.Popen:
    """The dashboard process; the caller stops it (terminate, then wait)."""
    env = {**environment(api_url, api_key), **(env_extra or {})}
    return subprocess.Popen(command(host, port), env=env, **popen)  # type: ignore[arg-type]


def local_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"
