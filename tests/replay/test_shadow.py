"""Shadow traffic across a server restart, and its regressions firing the
alerting hooks, on a real llmobs server and the real vLLM CPU server.

The candidate is the baseline model capped at 3 output tokens, while
"production" answered with a long fixed text: every replay disagrees with
production, so the rolling verdict fails and the hook receives one signed
firing notification.  The server is then stopped (SIGTERM) and started again
on the same data directory: the loop comes back by itself, keeps its
counters, replays only calls it has not seen, and never notifies twice for
the same regression.
"""

from __future__ import annotations

import json
import time

import pytest

from evaluators.alerts import signing
from tests.conftest import start_server, stop_server
from tests.otlp_builders import request, span
from tests.replay.test_replay_vllm import chat_attrs, prompt
from tests.server.test_alerts import Receiver
from tests.server.test_otlp_http import PB, post

PRODUCTION = "Here is a long and careful answer that the capped candidate cannot possibly reproduce in full."
SERVICE = "shadow-restart-app"


def wait_until(fn, what: str, timeout: float = 300):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


def ingest(srv, n: int, first: int) -> None:
    spans = [span("chat smollm2-prod", chat_attrs(prompt(first + i), PRODUCTION), start_ns=time.time_ns() + i)
             for i in range(n)]  # fmt: skip
    assert post(srv, request(spans, service=SERVICE).SerializeToString(), PB).status_code == 200


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_shadow_restarts_after_server_restart_and_fires_hooks(tmp_path, vllm_baseline, receiver):
    data = tmp_path / "srv"
    srv = start_server(data, {"LLMOBS_HOOK_BACKOFF_SECONDS": "0.3"})
    try:
        with srv.client() as c:
            hook = c.post("/hooks", json={"name": "shadow", "url": receiver.url + "/shadow"}).json()
            body = {
                "selection": {"service": SERVICE},
                "variants": [{"name": "capped", "base_urls": [vllm_baseline.base_url], "model": vllm_baseline.model,
                              "params": {"max_tokens": 3}}],
                "options": {"concurrency": 1, "temperature_zero": True},
                "report": {"evaluators": []},
                "shadow": {"poll_seconds": 0.5, "window_seconds": 3600, "alert_min_requests": 2,
                           "alert_hook_ids": [hook["id"]]},
            }  # fmt: skip
            # Bad input: an unknown hook, an unknown evaluator, a malformed window: 422, nothing started.
            for bad, word in (({"alert_hook_ids": [987654]}, "987654"), ({"window_seconds": -1}, "window_seconds")):
                r = c.post("/replay/shadow", json={**body, "shadow": {**body["shadow"], **bad}})
                assert r.status_code == 422 and word in r.text, r.text
            r = c.post("/replay/shadow", json={**body, "report": {"evaluators": ["toxicity"]}})
            assert r.status_code == 422 and "toxicity" in r.text
            assert [x for x in c.get("/replay/runs").json()["items"] if x["kind"] == "shadow"] == []

            started = c.post("/replay/shadow", json=body)
            assert started.status_code == 201, started.text
            run_id = started.json()["run_id"]
            ingest(srv, 2, 200)
            status = wait_until(lambda: (s := c.get(f"/replay/shadow/{run_id}").json()["shadow"])["replayed"] >= 2
                                and s["rolling_verdict"] and s, "two replays and a rolling verdict")  # fmt: skip
            assert status["rolling_verdict"] == "fail" and status["running"] and status["here"]
            firing = wait_until(lambda: receiver.on("/shadow"), "the firing notification")
        payload = json.loads(firing[0]["body"])
        assert (payload["kind"], payload["status"], payload["group"]) == ("replay_shadow", "firing", f"replay:{run_id}")
        assert payload["details"]["run_id"] == run_id and payload["threshold"] == 0.9 and payload["value"] < 0.9
        assert any("agreement with production" in r for r in payload["details"]["variants"]["capped"])
        signing.verify(hook["secret"], firing[0]["body"], firing[0]["headers"].get("X-Llmobs-Timestamp"),
                       firing[0]["headers"].get("X-Llmobs-Signature"))  # fmt: skip
    finally:
        stop_server(srv)
    assert srv.proc.returncode in (0, -15), srv.log()

    srv = start_server(data, {"LLMOBS_HOOK_BACKOFF_SECONDS": "0.3"})
    try:
        with srv.client() as c:
            status = wait_until(lambda: (s := c.get(f"/replay/shadow/{run_id}").json()["shadow"])["here"] and s,
                                "the loop to come back", timeout=60)  # fmt: skip
            assert status["active"] and status["running"] and status["replayed"] == 2 and status["seen"] == 2
            ingest(srv, 1, 300)
            status = wait_until(lambda: (s := c.get(f"/replay/shadow/{run_id}").json()["shadow"])["replayed"] >= 3
                                and s, "the call ingested after the restart")  # fmt: skip
            assert (status["seen"], status["replayed"]) == (3, 3)
            results = c.get(f"/replay/runs/{run_id}/results").json()["items"]
            assert len(results) == 3 and len({r["source_span_id"] for r in results}) == 3
            events = [e for e in c.get("/alerts/events").json()["items"] if e["group_key"] == f"replay:{run_id}"]
            assert [e["status"] for e in events] == ["firing"]  # still failing: no second transition
            stopped = c.delete(f"/replay/shadow/{run_id}")
            assert stopped.status_code == 200 and stopped.json()["shadow"]["active"] is False
            assert c.delete(f"/replay/shadow/{run_id}").status_code == 404
            after = c.get(f"/replay/shadow/{run_id}").json()["shadow"]
            assert (after["active"], after["running"]) == (False, False)
            reports = c.get(f"/replay/runs/{run_id}/reports").json()["items"]
            assert len(reports) == 1 and reports[0]["verdict"] == "fail"
            assert reports[0]["variants"]["capped"]["ok"] == 3
        assert len(receiver.on("/shadow")) == 1
        assert srv.alive()
    finally:
        stop_server(srv)
    assert srv.proc.returncode in (0, -15), srv.log()
