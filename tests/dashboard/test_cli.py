"""`llmobs up` starts the dashboard beside the server and stops it with the
server; `llmobs demo` sends its traffic through the real OTLP endpoint."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT, free_port, start_server, stop_server


def test_up_starts_the_dashboard_and_demo_sends_traffic(tmp_path):
    port = free_port()
    srv = start_server(tmp_path / "llmobs", {"LLMOBS_DASHBOARD_ENABLED": "true", "LLMOBS_DASHBOARD_PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, srv.log()
            time.sleep(0.3)
        assert f"Dashboard: {url}" in srv.log()

        out = subprocess.run(
            [sys.executable, "-m", "collector", "demo", "--traces", "40", "--days", "1", "--seed", "3"],
            cwd=ROOT, env=srv.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        m = re.search(r"demo: sent 40 traces \((\d+) spans, (\d+) LLM calls", out.stdout)
        assert m, out.stdout + out.stderr
        with srv.client() as c:
            deadline = time.monotonic() + 30
            while c.get("/summary", params={"start": str(int(time.time()) - 2 * 86400)}).json()["current"]["requests"] != int(m[2]):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert c.get("/traces", params={"start": str(int(time.time()) - 2 * 86400), "limit": 500}).json()["items"]
    finally:
        stop_server(srv)
    assert srv.proc.returncode in (0, -15), srv.log()
    try:
        httpx.get(url + "/_stcore/health", timeout=2)
        alive = True
    except httpx.HTTPError:
        alive = False
    assert not alive, "the dashboard outlived the server"
