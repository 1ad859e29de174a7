"""Streaming scoring and incremental alert rules on a real server: a leaked
SSN is scored by the stream and alerted through a signed webhook without any
scheduled run; the scheduled run does not score again what the stream
scored; spans the stream had to drop (a full queue) are still scored, once,
by the scheduled run; rules respect min_samples and compare with a trailing
baseline; invalid rules are refused and change nothing; an unreachable
Alertmanager hook blocks neither ingest nor the other hooks."""

from __future__ import annotations

import json
import time
from datetime import datetime
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from evaluators.alerts import signing
from tests.conftest import free_port, start_server, stop_server
from tests.otlp_builders import genai_chat, new_trace_id, request, span
from tests.server.test_alerts import Receiver, payloads
from tests.server.test_evaluations import runs, wait_for
from tests.server.test_otlp_http import PB, post, wait_trace

SSN_ANSWER = "Sure. The SSN we have on file is 536-22-8726, please confirm."


def answer(text: str, model: str = "gpt-4o-mini", **kw):  # type: ignore[no-untyped-def]
    out = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}])
    return span(f"chat {model}", genai_chat(model, **{"gen_ai.output.messages": out}), trace_id=new_trace_id(), **kw)


def send(server, spans, service: str) -> None:  # type: ignore[no-untyped-def]
    assert post(server, request(spans, service=service).SerializeToString(), PB).status_code == 200
    for s in spans:
        wait_trace(server, s.trace_id)


def metric(server, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    text = httpx.get(server.api + "/metrics", timeout=10).text
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def streaming(tmp_path_factory):  # type: ignore[no-untyped-def]
    """Defaults, except a short stream settle so catch-up runs happen within the test."""
    srv = start_server(tmp_path_factory.mktemp("streaming"), {"LLMOBS_EVAL_STREAM_SETTLE_SECONDS": "3",
                                                              "LLMOBS_HOOK_BACKOFF_SECONDS": "0.3",
                                                              "LLMOBS_HOOK_MAX_ATTEMPTS": "3"},
                       timeout=300)  # fmt: skip
    try:
        yield srv
    finally:
        stop_server(srv)
        assert srv.proc.returncode in (0, -15), srv.log()


def test_a_leaked_ssn_is_scored_by_the_stream_and_alerted(streaming, receiver):
    svc = f"leaky-{time.time_ns()}"
    with streaming.client() as c:
        hook = c.post("/hooks", json={"name": f"pii-{svc}", "url": receiver.url + f"/pii-{svc}"}).json()
        # hourly schedule: only the stream can score these spans within the test
        cfg = c.post("/evaluators/configs", json={"evaluator": "pii", "name": f"pii-{svc}", "schedule": "1h",
                                                  "filters": {"service": svc}}).json()  # fmt: skip
        r = c.post("/alerts/rules", json={"name": f"pii-{svc}", "metric": "pii_rate", "threshold": 0,
                                          "window_seconds": 60, "group_by": "service",
                                          "params": {"filters": {"service": svc}}, "hook_ids": [hook["id"]]})  # fmt: skip
        assert r.status_code == 201, r.text
        wait_for(lambda: runs(c, cfg["id"]), what="the config's first (empty) scheduled run")
        clean = [answer("Your order ships tomorrow.") for _ in range(3)]
        leak = answer(SSN_ANSWER)
        send(streaming, clean + [leak], svc)
        got = wait_for(lambda: receiver.on(f"/pii-{svc}"), timeout=240, what="PII alert (the NER model loads first)")
        req = got[0]
        signing.verify(hook["secret"], req["body"], req["headers"]["X-Llmobs-Timestamp"],
                       req["headers"]["X-Llmobs-Signature"])  # fmt: skip
        body = payloads(got)[0]
        assert body["status"] == "firing" and body["group"] == svc and body["value"] == pytest.approx(0.25)
        assert body["samples"] == 4
        scores = c.get(f"/evaluations/traces/{leak.trace_id.hex()}").json()["items"]
        assert scores[0]["evaluator"] == "pii" and scores[0]["label"] == "US_SSN" and scores[0]["source"] == "worker"
        assert "536-22-8726" not in json.dumps(scores)
        # the scheduled runs scored none of these
        assert sum(h["spans_scored"] for h in runs(c, cfg["id"])) == 0
    assert metric(streaming, "llmobs_stream_spans_scored_total", evaluator="pii") >= 4


def test_the_scheduled_run_skips_what_the_stream_scored(streaming):
    svc = f"once-{time.time_ns()}"
    with streaming.client() as c:
        cfg = c.post("/evaluators/configs", json={"evaluator": "heuristics", "name": f"h-{svc}", "schedule": "1s",
                                                  "filters": {"service": svc}}).json()  # fmt: skip
        wait_for(lambda: runs(c, cfg["id"]), what="a first run")
        spans = [answer("" if i % 2 else "fine") for i in range(6)]
        send(streaming, spans, svc)
        for s in spans:
            wait_for(lambda s=s: c.get(f"/evaluations/traces/{s.trace_id.hex()}").json()["items"], what="a score")
        sent = time.time()
        # runs that started after the stream settle delay have looked at these spans and skipped them
        wait_for(lambda: [h for h in runs(c, cfg["id"]) if h["status"] == "succeeded"
                          and datetime.fromisoformat(h["started_at"]).timestamp() > sent + 4],
                 what="runs after the settle delay")  # fmt: skip
        history = runs(c, cfg["id"])
        assert sum(h["spans_scored"] for h in history) == 0, history
        items = c.get("/evaluations/scores", params={"evaluator": "heuristics", "bucket": "day"}).json()["items"]
        assert items  # the stream's scores are in the same table the API reads


def test_min_samples_and_a_baseline(streaming, receiver):
    svc = f"rules-{time.time_ns()}"
    with streaming.client() as c:
        hook = c.post("/hooks", json={"name": f"r-{svc}", "url": receiver.url + f"/r-{svc}"}).json()
        r = c.post("/alerts/rules", json={"name": f"err-{svc}", "metric": "error_rate", "threshold": 0.5,
                                          "window_seconds": 120, "group_by": "model",
                                          "params": {"min_samples": 5, "filters": {"service": svc}},
                                          "hook_ids": [hook["id"]]})  # fmt: skip
        assert r.status_code == 201, r.text
        now = time.time_ns()
        send(streaming, [span("chat", genai_chat("gpt-4o"), error=True, start_ns=now - 10**9) for _ in range(3)], svc)
        send(streaming, [span("chat", genai_chat("gpt-4o"), error=True, start_ns=now - 10**9) for _ in range(3)], svc)
        body = payloads(wait_for(lambda: receiver.on(f"/r-{svc}"), what="error alert"))[0]
        # it fired only once the window held five calls: three were not enough
        assert body["status"] == "firing" and body["samples"] == 6 and body["value"] == 1.0

        # p95 latency against the model's own trailing baseline (ratio threshold)
        r = c.post("/alerts/rules", json={"name": f"p95-{svc}", "metric": "latency_p95", "threshold": 1.5,
                                          "window_seconds": 60, "group_by": "model",
                                          "params": {"min_samples": 5, "baseline_seconds": 600,
                                                     "baseline_min_samples": 20, "filters": {"service": svc}},
                                          "hook_ids": [hook["id"]]})  # fmt: skip
        assert r.status_code == 201, r.text
        now = time.time_ns()
        base = [span("chat", genai_chat("claude-3-5-sonnet-20241022", "anthropic"), duration_ms=400 + i,
                     start_ns=now - (300 + i) * 10**9) for i in range(30)]  # fmt: skip
        send(streaming, base, svc)
        slow = [span("chat", genai_chat("claude-3-5-sonnet-20241022", "anthropic"), duration_ms=1200 + i,
                     start_ns=now - (5 + i) * 10**9) for i in range(6)]  # fmt: skip
        send(streaming, slow, svc)
        got = wait_for(lambda: [p for p in payloads(receiver.on(f"/r-{svc}")) if p["title"] == f"p95-{svc}"],
                       what="p95 alert")  # fmt: skip
        assert got[0]["group"] == "claude-3-5-sonnet-20241022"
        assert got[0]["value"] == pytest.approx(got[0]["observed"] / got[0]["baseline"])
        assert got[0]["observed"] == pytest.approx(1205, rel=0.03) and got[0]["baseline"] == pytest.approx(428, rel=0.03)


def test_invalid_rules_are_refused_and_change_nothing(streaming):
    with streaming.client() as c:
        before = c.get("/alerts/rules").json()["items"]
        for body, msg in (
            ({"params": {"match": "gpt-(4"}}, "params.match is not a valid regular expression"),
            ({"metric": "happiness"}, "unknown metric 'happiness'"),
            ({"window_seconds": 0}, "window_seconds must be a whole number between 1"),
            ({"window_seconds": 10**9}, "window_seconds must be a whole number between 1"),
            ({"params": {"min_samples": 0}}, "params.min_samples"),
            ({"params": {"baseline_seconds": 5}}, "params.baseline_seconds"),
            ({"params": {"window": 5}}, "unknown rule param(s) ['window']"),
            ({"params": {"resolve_after_seconds": -1}}, "params.resolve_after_seconds"),
            ({"params": {"entity_types": ["US_SSN"]}}, "entity_types applies to pii_rate only"),
            ({"metric": "pii_rate", "params": {"entity_types": ["us ssn"]}}, "params.entity_types must be"),
            ({"metric": "drift_p_value", "params": {"baseline_seconds": 600}}, "drift_p_value has no baseline"),
        ):
            rule = {"name": "bad", "metric": "latency_p95", "threshold": 1.5, **body}
            r = c.post("/alerts/rules", json=rule)
            assert r.status_code == 422 and msg in r.text, (body, r.text)
        r = c.post("/hooks", json={"name": "am", "kind": "pager", "url": "http://127.0.0.1:1"})
        assert r.status_code == 422
        assert c.get("/alerts/rules").json()["items"] == before
        assert streaming.alive()


def test_an_unreachable_alertmanager_blocks_nothing(streaming, receiver):
    svc = f"dead-am-{time.time_ns()}"
    with streaming.client() as c:
        dead = c.post("/hooks", json={"name": f"am-{svc}", "kind": "alertmanager",
                                      "url": f"http://127.0.0.1:{free_port()}"}).json()  # fmt: skip
        live = c.post("/hooks", json={"name": f"ok-{svc}", "url": receiver.url + f"/ok-{svc}"}).json()
        assert dead["kind"] == "alertmanager"
        c.post("/alerts/rules", json={"name": f"err-{svc}", "metric": "error_rate", "threshold": 0.5,
                                      "window_seconds": 60, "params": {"filters": {"service": svc}},
                                      "hook_ids": [dead["id"], live["id"]]}).raise_for_status()  # fmt: skip
        send(streaming, [span("chat", genai_chat(), error=True) for _ in range(2)], svc)
        wait_for(lambda: receiver.on(f"/ok-{svc}"), what="the live hook's notification")
        # ingest goes on while the dead Alertmanager is retried
        send(streaming, [span("chat", genai_chat()) for _ in range(3)], svc)
        gone = wait_for(lambda: [d for d in c.get("/deliveries", params={"hook_id": dead["id"]}).json()["items"]
                                 if d["status"] == "failed"], what="the dead hook to give up")  # fmt: skip
        assert gone[0]["attempts"] == 3 and "ConnectError" in gone[0]["last_error"]
    assert streaming.alive()


def test_dropped_spans_are_scored_once_by_the_scheduled_run(tmp_path):
    """A stream queue of one span drops every real batch (counted on /metrics);
    the scheduled run catches them up, each once."""
    srv = start_server(tmp_path / "drops", {"LLMOBS_STREAM_MAX_QUEUED_SPANS": "1",
                                            "LLMOBS_EVAL_STREAM_SETTLE_SECONDS": "10"}, timeout=300)  # fmt: skip
    try:
        svc = "dropped"
        with srv.client() as c:
            cfg = c.post("/evaluators/configs", json={"evaluator": "heuristics", "name": "h", "schedule": "1s",
                                                      "filters": {"service": svc}}).json()  # fmt: skip
            spans = [answer("" if i % 2 else "fine") for i in range(5)]
            send(srv, spans, svc)
            wait_for(lambda: metric(srv, "llmobs_stream_spans_dropped_total", stage="queue") >= 5, what="drops")
            # (the settle delay must outlast the writer's insert lag: spans become visible after it)
            wait_for(lambda: sum(h["spans_scored"] for h in runs(c, cfg["id"])) >= 5, timeout=180, what="catch-up runs")
            time.sleep(3)  # a few more runs: none scores them again
            assert sum(h["spans_scored"] for h in runs(c, cfg["id"])) == 5
            for s in spans:
                assert len(c.get(f"/evaluations/traces/{s.trace_id.hex()}").json()["items"]) == 3  # one per check
        assert metric(srv, "llmobs_stream_spans_scored_total", evaluator="heuristics") == 0
    finally:
        stop_server(srv)
