"""Alerts end to end: rules and budgets through the API, evaluated by the
server on real spans, delivered to a real HTTP receiver on loopback as signed
webhooks (signatures verified, retries when the receiver fails, one
notification per transition, resolve messages), Slack-shaped messages, the
delivery log, and an unreachable hook that blocks nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from evaluators.alerts import signing
from tests.conftest import free_port, start_server, stop_server
from tests.otlp_builders import genai_chat, new_trace_id, request, span
from tests.server.test_evaluations import wait_for
from tests.server.test_otlp_http import PB, post, wait_trace


class Receiver:
    """A real webhook receiver: records every request; `fail[path] = n`
    answers the first n requests on that path with 500."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail: dict[str, int] = {}
        self._lock = threading.Lock()
        self.hang = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.startswith("/hang"):
                    outer.hang.wait(30)  # never answers in time
                with outer._lock:
                    failing = outer.fail.get(self.path, 0) > 0
                    if failing:
                        outer.fail[self.path] -= 1
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                           "answered": 500 if failing else 200})  # fmt: skip
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"no" if failing else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path: str, answered: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"] == path and r["answered"] == answered]

    def close(self) -> None:
        self.hang.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """A server that checks rules every second and retries deliveries quickly."""
    srv = start_server(tmp_path_factory.mktemp("alerts"), {
        "LLMOBS_ALERT_INTERVAL_SECONDS": "1", "LLMOBS_HOOK_BACKOFF_SECONDS": "0.3", "LLMOBS_HOOK_MAX_ATTEMPTS": "4",
        "LLMOBS_HOOK_TIMEOUT_SECONDS": "2", "LLMOBS_EVAL_SETTLE_SECONDS": "1",
    })  # fmt: skip
    try:
        yield srv
    finally:
        stop_server(srv)
        assert srv.proc.returncode in (0, -15), srv.log()


def send(server, spans, service: str) -> None:
    assert post(server, request(spans, service=service).SerializeToString(), PB).status_code == 200
    for s in spans:
        wait_trace(server, s.trace_id)


def payloads(reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in reqs]


def test_error_rate_rule_fires_once_signed_retried_and_resolves(fast, receiver):
    svc = f"err-{time.time_ns()}"
    receiver.fail["/flaky"] = 2
    with fast.client() as c:
        hook = c.post("/hooks", json={"name": "flaky", "url": receiver.url + "/flaky"}).json()
        dead = c.post("/hooks", json={"name": "dead", "url": f"http://127.0.0.1:{free_port()}/gone"}).json()
        slack = c.post("/hooks", json={"name": "slack", "kind": "slack", "url": receiver.url + "/slack"}).json()
        secret = hook["secret"]
        assert len(secret) >= 32 and hook["secret_hint"] == secret[:6]
        assert "secret" not in c.get("/hooks").json()["items"][0]
        r = c.post("/alerts/rules", json={
            "name": "errors", "metric": "error_rate", "threshold": 0.5, "comparison": ">", "window_seconds": 600,
            "group_by": "model", "params": {"filters": {"service": svc}},
            "hook_ids": [hook["id"], dead["id"], slack["id"]],
        })  # fmt: skip
        assert r.status_code == 201, r.text
        rule = r.json()
        send(fast, [span("chat", genai_chat("gpt-4o-mini"), error=True) for _ in range(3)], svc)

        # Retried through two 500s, then delivered, signed; exactly one firing notification.
        got = wait_for(lambda: receiver.on("/flaky"), what="firing webhook")
        assert len(receiver.on("/flaky", 500)) == 2
        req = got[0]
        signing.verify(secret, req["body"], req["headers"]["X-Llmobs-Timestamp"], req["headers"]["X-Llmobs-Signature"])
        with pytest.raises(signing.SignatureError, match="mismatch"):
            signing.verify(secret, req["body"] + b" ", req["headers"]["X-Llmobs-Timestamp"],
                           req["headers"]["X-Llmobs-Signature"])  # fmt: skip
        with pytest.raises(signing.SignatureError, match="replay"):
            signing.verify(secret, req["body"], req["headers"]["X-Llmobs-Timestamp"],
                           req["headers"]["X-Llmobs-Signature"], now=time.time() + 3600)  # fmt: skip
        body = json.loads(req["body"])
        assert body["status"] == "firing" and body["group"] == "gpt-4o-mini" and body["value"] == 1.0
        assert body["rule"]["metric"] == "error_rate" and body["threshold"] == 0.5
        assert req["headers"]["X-Llmobs-Dedupe-Key"] == body["dedupe_key"]
        slack_msgs = wait_for(lambda: receiver.on("/slack"), what="slack message")
        assert "errors" in payloads(slack_msgs)[0]["text"] and "firing" in payloads(slack_msgs)[0]["text"]

        # More bad spans while firing: no new notification (one per transition).
        send(fast, [span("chat", genai_chat("gpt-4o-mini"), error=True)], svc)
        time.sleep(3)
        assert [p["status"] for p in payloads(receiver.on("/flaky"))] == ["firing"]

        # The dead hook kept failing without holding anything up; it is in the log.
        log = c.get("/deliveries").json()["items"]
        by_hook = {}
        for d in log:
            by_hook.setdefault(d["hook_id"], []).append(d)
        flaky = by_hook[hook["id"]][0]
        assert flaky["status"] == "delivered" and flaky["attempts"] == 3 and flaky["last_status_code"] == 200
        gone = wait_for(lambda: [d for d in c.get("/deliveries", params={"hook_id": dead["id"]}).json()["items"]
                                 if d["status"] == "failed"], what="dead hook to give up")  # fmt: skip
        assert gone[0]["attempts"] == 4 and "ConnectError" in gone[0]["last_error"]

        # Recovery: enough good calls bring the rate under the threshold -> one resolve message.
        send(fast, [span("chat", genai_chat("gpt-4o-mini")) for _ in range(6)], svc)
        wait_for(lambda: len(receiver.on("/flaky")) == 2, what="resolve webhook")
        assert [p["status"] for p in payloads(receiver.on("/flaky"))] == ["firing", "resolved"]
        history = c.get("/alerts/events", params={"rule_id": rule["id"]}).json()["items"]
        assert [e["status"] for e in history] == ["resolved", "firing"]
        detail = c.get(f"/alerts/rules/{rule['id']}").json()
        assert detail["groups"][0]["group"] == "gpt-4o-mini" and detail["groups"][0]["state"] == "ok"
        assert fast.alive()


def test_budget_burn_down_and_threshold_notifications(fast, receiver):
    tag = f"b-{time.time_ns()}"
    with fast.client() as c:
        hook = c.post("/hooks", json={"name": f"budget-{tag}", "url": receiver.url + f"/budget-{tag}"}).json()
        r = c.post("/budgets", json={"name": f"team-{tag}", "limit_usd": "0.01", "period": "day",
                                     "scope": "attr:team", "scope_value": tag, "hook_ids": [hook["id"]]})  # fmt: skip
        assert r.status_code == 201, r.text
        budget = r.json()
        assert budget["thresholds"] == [0.5, 0.8, 1.0] and budget["scope"] == "attr:team"
        call = lambda: span("chat", genai_chat("gpt-4o", input_tokens=1000, output_tokens=100, team=tag))  # noqa: E731
        send(fast, [call(), call()], "budget-app")  # 2 x 0.0035 = 0.007 USD = 70 %
        first = wait_for(lambda: receiver.on(f"/budget-{tag}"), what="50 % notification")
        assert payloads(first)[0]["status"] == "budget_50"
        bd = c.get(f"/budgets/{budget['id']}").json()["burn_down"]
        assert abs(bd["spent_usd"] - 0.007) < 1e-9 and abs(bd["used"] - 0.7) < 1e-9 and bd["level"] == 0.5
        assert abs(bd["remaining_usd"] - 0.003) < 1e-9 and bd["projected_usd"] >= bd["spent_usd"]
        send(fast, [call()], "budget-app")  # 0.0105 USD = 105 %
        wait_for(lambda: len(receiver.on(f"/budget-{tag}")) == 2, what="100 % notification")
        time.sleep(2.5)
        statuses = [p["status"] for p in payloads(receiver.on(f"/budget-{tag}"))]
        assert statuses == ["budget_50", "budget_100"]
        listed = {b["id"]: b for b in c.get("/budgets").json()["items"]}
        assert listed[budget["id"]]["burn_down"]["level"] == 1.0


def test_evaluator_score_rule_and_test_hook(fast, receiver):
    svc = f"refusals-{time.time_ns()}"
    with fast.client() as c:
        hook = c.post("/hooks", json={"name": f"q-{svc}", "url": receiver.url + f"/q-{svc}"}).json()
        r = c.post(f"/hooks/{hook['id']}/test")
        assert r.status_code == 202
        test_msg = wait_for(lambda: receiver.on(f"/q-{svc}"), what="test delivery")
        assert payloads(test_msg)[0]["kind"] == "test"
        signing.verify(hook["secret"], test_msg[0]["body"], test_msg[0]["headers"]["X-Llmobs-Timestamp"],
                       test_msg[0]["headers"]["X-Llmobs-Signature"])  # fmt: skip
        assert c.post("/evaluators/configs", json={"evaluator": "heuristics", "schedule": "1s", "name": f"h-{svc}",
                                                   "filters": {"service": svc}}).status_code == 201  # fmt: skip
        assert c.post("/alerts/rules", json={
            "name": f"refusals-{svc}", "metric": "eval_score", "comparison": "<", "threshold": 0.9,
            "window_seconds": 600, "params": {"evaluator": "heuristics", "metric": "refusal",
                                              "filters": {"service": svc}}, "hook_ids": [hook["id"]],
        }).status_code == 201  # fmt: skip
        out = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "I'm sorry, but I can't help."}]}])
        send(fast, [span("chat", genai_chat("gpt-4o", **{"gen_ai.output.messages": out}), trace_id=new_trace_id())
                    for _ in range(2)], svc)  # fmt: skip
        got = wait_for(lambda: [p for p in payloads(receiver.on(f"/q-{svc}")) if p["kind"] == "alert"],
                       what="score alert")  # fmt: skip
        assert got[0]["status"] == "firing" and got[0]["value"] == 0.0


def test_invalid_rules_budgets_and_hooks_are_refused(fast):
    with fast.client() as c:
        before = (len(c.get("/alerts/rules").json()["items"]), len(c.get("/budgets").json()["items"]),
                  len(c.get("/hooks").json()["items"]))  # fmt: skip
        for body, msg in (
            ({"name": "x", "metric": "happiness", "threshold": 1}, "unknown metric 'happiness'"),
            ({"name": "x", "metric": "cost", "threshold": 1, "group_by": "colour"}, "cannot group cost by 'colour'"),
            ({"name": "x", "metric": "cost", "threshold": 1, "window_seconds": 0}, "window_seconds"),
            ({"name": "x", "metric": "eval_score", "threshold": 1}, "needs params.evaluator"),
            ({"name": "x", "metric": "cost", "threshold": 1, "hook_ids": [987654]}, "hook 987654 does not exist"),
            ({"name": "x", "metric": "cost", "threshold": 1, "comparison": "=="}, "comparison"),
        ):
            r = c.post("/alerts/rules", json=body)
            assert r.status_code == 422 and msg in r.text, (body, r.text)
        for body, msg in (
            ({"name": "b", "limit_usd": "-1"}, "must not be negative"),
            ({"name": "b", "limit_usd": "0"}, "positive"),
            ({"name": "b", "limit_usd": "5", "scope": "team"}, "scope must be"),
            ({"name": "b", "limit_usd": "5", "period": "week"}, "period"),
        ):
            r = c.post("/budgets", json=body)
            assert r.status_code == 422 and msg in r.text, (body, r.text)
        for body, msg in (({"name": "h", "url": "ftp://x"}, "http(s) URL"),
                          ({"name": "h", "url": "http://x", "secret": "short"}, "at least 16")):  # fmt: skip
            r = c.post("/hooks", json=body)
            assert r.status_code == 422 and msg in r.text, (body, r.text)
        after = (len(c.get("/alerts/rules").json()["items"]), len(c.get("/budgets").json()["items"]),
                 len(c.get("/hooks").json()["items"]))  # fmt: skip
        assert after == before
        metrics = {m["metric"] for m in c.get("/alerts/metrics").json()["items"]}
        assert {"cost", "error_rate", "latency_p95", "eval_score", "pii_rate", "drift_p_value"} <= metrics


def test_a_hanging_receiver_holds_up_no_other_hook(fast, receiver):
    """While one receiver hangs (the request is still open), another hook's
    notification of the same transition is delivered."""
    svc = f"hang-{time.time_ns()}"
    with fast.client() as c:
        hang = c.post("/hooks", json={"name": f"hang-{svc}", "url": receiver.url + f"/hang-{svc}"}).json()
        ok = c.post("/hooks", json={"name": f"ok-{svc}", "url": receiver.url + f"/ok-{svc}"}).json()
        assert c.post("/alerts/rules", json={"name": f"r-{svc}", "metric": "requests", "threshold": 0,
                                             "params": {"filters": {"service": svc}},
                                             "hook_ids": [hang["id"], ok["id"]]}).status_code == 201  # fmt: skip
        send(fast, [span("chat", genai_chat())], svc)
        wait_for(lambda: receiver.on(f"/ok-{svc}"), what="the other hook's delivery")
        pending = c.get("/deliveries", params={"hook_id": hang["id"]}).json()["items"]
        assert len(pending) == 1 and pending[0]["status"] == "pending"
        assert c.get("/evaluators").status_code == 200 and fast.alive()


def test_a_rule_is_edited_in_place_and_a_bad_edit_changes_nothing(fast):
    with fast.client() as c:
        r = c.post("/alerts/rules", json={"name": "edit-me", "metric": "cost", "threshold": 5, "window_seconds": 300})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        r = c.patch(f"/alerts/rules/{rid}", json={"threshold": 7.5, "window_seconds": 600, "group_by": "model"})
        assert r.status_code == 200, r.text
        got = c.get(f"/alerts/rules/{rid}").json()
        assert (got["threshold"], got["window_seconds"], got["group_by"], got["name"]) == (7.5, 600, "model", "edit-me")
        for body, status, msg in (
            ({"metric": "happiness"}, 422, "unknown metric 'happiness'"),
            ({"window_seconds": 0}, 422, "window_seconds"),
            ({"group_by": "colour"}, 422, "cannot group cost by 'colour'"),
            ({"hook_ids": [987654]}, 422, "hook 987654 does not exist"),
            ({"surprise": 1}, 422, "surprise"),
        ):
            r = c.patch(f"/alerts/rules/{rid}", json=body)
            assert r.status_code == status and msg in r.text, (body, r.text)
        assert c.get(f"/alerts/rules/{rid}").json() == got
        assert c.patch("/alerts/rules/987654", json={"threshold": 1}).status_code == 404
