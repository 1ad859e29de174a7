"""A real llmobs server with demo traffic in its own project, the dashboard
process against it, and headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dashboard import demo, launch
from tests.conftest import ROOT, free_port

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


@dataclass
class Dashboard:
    url: str
    proc: subprocess.Popen
    log: Path


@dataclass
class Seeded:
    key: str
    batch: demo.DemoBatch

    def client(self, server) -> httpx.Client:  # type: ignore[no-untyped-def]
        return server.client(self.key)


def start_dashboard(api_url: str, key: str | None, log: Path, timeout: float = 90) -> Dashboard:
    port = free_port()
    fh = open(log, "wb")  # noqa: SIM115 - lives as long as the process
    proc = launch.start(api_url, key, "127.0.0.1", port, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/_stcore/health", timeout=1).text == "ok":
                return Dashboard(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"dashboard did not start:\n{log.read_text()}")


def stop_dashboard(d: Dashboard) -> None:
    d.proc.terminate()
    try:
        d.proc.wait(15)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        d.proc.wait(5)


def new_project(server, name: str) -> str:  # type: ignore[no-untyped-def]
    with server.client() as c:
        r = c.post("/projects", json={"id": f"{name}-{time.time_ns() % 10**9}"})
        assert r.status_code == 201, r.text
        return r.json()["api_key"]


@pytest.fixture(scope="session")
def seeded(server) -> Seeded:  # type: ignore[no-untyped-def]
    """Demo traffic (two days, 150 traces) in a project of its own."""
    key = new_project(server, "dash")
    batch = demo.generate(150, days=2, seed=11, now_ns=time.time_ns())
    for _ in demo.send(batch, server.otlp_http, key):
        pass
    deadline = time.monotonic() + 30
    with server.client(key) as c:
        while True:
            got = c.get("/summary", params={"start": str(int(time.time()) - 3 * 86400)}).json()["current"]
            if got["requests"] == batch.llm_calls:
                break
            assert time.monotonic() < deadline, f"stored {got['requests']} of {batch.llm_calls} LLM calls"
            time.sleep(0.2)
    return Seeded(key, batch)


@pytest.fixture(scope="session")
def dash(server, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:  # type: ignore[no-untyped-def]
    d = start_dashboard(server.api, seeded.key, tmp_path_factory.mktemp("dash") / "dashboard.log")
    try:
        yield d
    finally:
        stop_dashboard(d)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running in
    this thread while it is open, which would break later asyncio tests."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 1440, "height": 2600})  # tall: Streamlit scrolls inside the page
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()
