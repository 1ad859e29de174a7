"""The shipped Prometheus and Alertmanager files, checked by their own tools and
run for real: Debian's prometheus (2.42) scrapes a running llmobs, one of the
shipped rules (windows shortened so the test takes seconds) fires on planted
errors, and prometheus-alertmanager (0.25) delivers it to a webhook on loopback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port, start_server, stop_server
from tests.otlp_builders import genai_chat, new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import PB, post

DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "llmobs.yml"
# Debian's prometheus and prometheus-alertmanager packages (.ci/run installs them).
TOOLS = {name: shutil.which(name) or name for name in ("prometheus", "promtool", "prometheus-alertmanager", "amtool")}


def test_shipped_files_pass_their_checkers():
    for args in (
        [TOOLS["promtool"], "check", "rules", str(RULES)],
        [TOOLS["promtool"], "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        [TOOLS["amtool"], "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
    ):
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict]]]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    srv.received = []  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/alerts", srv.received  # type: ignore[attr-defined]
    finally:
        srv.shutdown()


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args[0]} exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


def fast_rule(name: str) -> str:
    """The shipped rule `name`, with its windows and `for:` shortened to seconds."""
    text = RULES.read_text()
    start = text.index(f"- alert: {name}")
    nxt = text.find("- alert:", start + 1)
    block = text[start: nxt if nxt > 0 else len(text)]
    block = re.sub(r"\[\d+[mh]\]", "[20s]", block)
    block = re.sub(r"for: \d+[mh]", "for: 0s", block)
    # the shipped file nests rules exactly as below, so the block keeps its indentation
    return f"groups:\n  - name: test\n    rules:\n      {block.rstrip()}\n"


def calls(n: int, errors: int, service: str) -> bytes:
    t0 = time.time_ns() - 10**9
    spans = [span("chat", genai_chat("gpt-4o"), trace_id=new_trace_id(), span_id=new_span_id(), start_ns=t0 + i,
                  duration_ms=50, error=i < errors) for i in range(n)]  # fmt: skip
    return request(spans, service=service).SerializeToString()


def test_prometheus_scrapes_llmobs_and_alertmanager_delivers(tmp_path):
    srv = start_server(tmp_path / "llmobs")
    try:
        with webhook_receiver() as (hook_url, received):
            am_port, prom_port = free_port(), free_port()
            (tmp_path / "am.yml").write_text(
                "route:\n  receiver: hook\n  group_by: [alertname, service]\n  group_wait: 1s\n"
                "  group_interval: 1s\n  repeat_interval: 1h\n"
                f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook_url}\n"
            )
            rule = fast_rule("LLMErrorRateHigh")
            (tmp_path / "rules.yml").write_text(rule)
            (tmp_path / "prom.yml").write_text(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"rule_files: [{tmp_path / 'rules.yml'}]\n"
                f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
                f"scrape_configs:\n  - job_name: llmobs\n    static_configs:\n      - targets: ['127.0.0.1:{srv.api_port}']\n"
            )
            am_args = [TOOLS["prometheus-alertmanager"], f"--config.file={tmp_path / 'am.yml'}",
                       f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                       "--cluster.listen-address="]  # fmt: skip
            prom_args = [TOOLS["prometheus"], f"--config.file={tmp_path / 'prom.yml'}",
                         f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address=127.0.0.1:{prom_port}"]  # fmt: skip
            with process(am_args, tmp_path / "am.log") as am, process(prom_args, tmp_path / "prom.log") as pr:
                wait_http(f"http://127.0.0.1:{am_port}/-/ready", am, tmp_path / "am.log")
                wait_http(f"http://127.0.0.1:{prom_port}/-/ready", pr, tmp_path / "prom.log")
                prom = f"http://127.0.0.1:{prom_port}/api/v1/query"
                # Clean traffic first, so the series exist before the errors arrive.
                assert post(srv, calls(10, 0, "checkout"), PB).status_code == 200
                deadline = time.monotonic() + 60
                while True:
                    res = httpx.get(prom, params={"query": 'llmobs_genai_requests_total{service="checkout"}'}).json()
                    if res["data"]["result"] and float(res["data"]["result"][0]["value"][1]) == 10:
                        break
                    assert time.monotonic() < deadline, (tmp_path / "prom.log").read_text()[-2000:]
                    time.sleep(0.5)
                time.sleep(2)
                assert not received  # nothing fires on clean traffic
                assert post(srv, calls(10, 5, "checkout"), PB).status_code == 200
                deadline = time.monotonic() + 90
                while not any(a["labels"].get("alertname") == "LLMErrorRateHigh" for m in received for a in m["alerts"]):
                    assert time.monotonic() < deadline, (
                        f"no alert delivered; prometheus alerts: {httpx.get(prom.replace('query', 'alerts')).text}\n"
                        + (tmp_path / "am.log").read_text()[-2000:]
                    )
                    time.sleep(0.5)
        alert = next(a for m in received for a in m["alerts"] if a["labels"]["alertname"] == "LLMErrorRateHigh")
        assert alert["status"] == "firing"
        assert alert["labels"]["service"] == "checkout" and alert["labels"]["severity"] == "page"
        assert alert["labels"]["project"] == "default"
        assert "checkout" in alert["annotations"]["summary"]
    finally:
        stop_server(srv)


def test_llmobs_posts_its_own_alerts_to_alertmanager(tmp_path):
    """An llmobs hook of kind 'alertmanager' posts to the real Alertmanager's
    /api/v2/alerts; Alertmanager routes the alert to a loopback webhook with
    llmobs's labels and annotations, then the resolve ends it."""
    with webhook_receiver() as (hook_url, received):
        am_port = free_port()
        (tmp_path / "am.yml").write_text(
            "route:\n  receiver: hook\n  group_by: [alertname, service]\n  group_wait: 1s\n"
            "  group_interval: 1s\n  repeat_interval: 1h\n"
            f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook_url}\n        send_resolved: true\n"
        )
        am_args = [TOOLS["prometheus-alertmanager"], f"--config.file={tmp_path / 'am.yml'}",
                   f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                   "--cluster.listen-address="]  # fmt: skip
        srv = start_server(tmp_path / "llmobs", {"LLMOBS_HOOK_BACKOFF_SECONDS": "0.3"}, timeout=300)
        try:
            with process(am_args, tmp_path / "am.log") as am:
                wait_http(f"http://127.0.0.1:{am_port}/-/ready", am, tmp_path / "am.log")
                with srv.client() as c:
                    hook = c.post("/hooks", json={"name": "am", "kind": "alertmanager",
                                                  "url": f"http://127.0.0.1:{am_port}"})  # fmt: skip
                    assert hook.status_code == 201, hook.text
                    rule = c.post("/alerts/rules", json={
                        "name": "CheckoutErrors", "metric": "error_rate", "threshold": 0.3, "window_seconds": 20,
                        "group_by": "service", "params": {"severity": "page", "filters": {"service": "checkout"}},
                        "hook_ids": [hook.json()["id"]],
                    })  # fmt: skip
                    assert rule.status_code == 201, rule.text
                    assert post(srv, calls(4, 4, "checkout"), PB).status_code == 200

                    def delivered(status: str) -> list[dict]:
                        return [a for m in received for a in m["alerts"]
                                if a["labels"].get("alertname") == "CheckoutErrors" and a["status"] == status]  # fmt: skip

                    deadline = time.monotonic() + 90
                    while not delivered("firing"):
                        assert time.monotonic() < deadline, (tmp_path / "am.log").read_text()[-2000:] + srv.log()[-2000:]
                        time.sleep(0.5)
                    alert = delivered("firing")[0]
                    assert alert["labels"]["service"] == "checkout" and alert["labels"]["project"] == "default"
                    assert alert["labels"]["severity"] == "page" and alert["labels"]["source"] == "llmobs"
                    assert alert["labels"]["metric"] == "error_rate"
                    assert alert["annotations"]["value"] == "1" and alert["annotations"]["threshold"] == "0.3"
                    assert "CheckoutErrors" in alert["annotations"]["summary"]
                    assert alert["generatorURL"].startswith(f"http://127.0.0.1:{srv.api_port}/api/v1/alerts/events")
                    # the window empties (20 s): llmobs resolves, Alertmanager ends the alert and says so
                    deadline = time.monotonic() + 120
                    while not delivered("resolved"):
                        assert time.monotonic() < deadline, (tmp_path / "am.log").read_text()[-2000:]
                        time.sleep(0.5)
                    log = c.get("/deliveries", params={"hook_id": hook.json()["id"]}).json()["items"]
                    assert {d["status"] for d in log} == {"delivered"} and len(log) == 2
        finally:
            stop_server(srv)
