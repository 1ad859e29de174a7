"""The evaluation worker end to end on a real server: configs through the API,
the heuristics scorer run by the in-process worker on spans sent over OTLP,
watermarks (each span scored once per evaluator version), deterministic
sampling, run history, backfill through the CLI, and app-sent
gen_ai.evaluation.result events landing in the same evaluations table."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.conftest import ROOT
from tests.otlp_builders import genai_chat, kvs, new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import PB, post, wait_trace


def _out(text: str) -> str:
    return json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}])


def answer(text: str, service: str, **extra: Any):
    return span("chat gpt-4o", genai_chat("gpt-4o", **{"gen_ai.output.messages": _out(text), **extra}),
                trace_id=new_trace_id())  # fmt: skip


def send(server, spans, service: str) -> list[bytes]:
    assert post(server, request(spans, service=service).SerializeToString(), PB).status_code == 200
    for s in spans:
        wait_trace(server, s.trace_id)
    return [s.trace_id for s in spans]


def wait_for(fn, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def runs(c: httpx.Client, config_id: int) -> list[dict[str, Any]]:
    return c.get("/evaluators/runs", params={"config_id": config_id}).json()["items"]


def test_heuristics_scores_arrive_once_per_span(server):
    svc = f"heur-{time.time_ns()}"
    spans = [
        answer("Paris is the capital of France.", svc),
        answer("", svc),
        answer("I'm sorry, but I can't help with that request.", svc),
        answer("The list goes on and on and", svc, **{"gen_ai.response.finish_reasons": ["length"]}),
        answer('{"city": "Paris"', svc, **{"gen_ai.output.type": "json"}),
        answer('```json\n{"city": "Paris"}\n```', svc, **{"gen_ai.output.type": "json"}),
    ]
    good, empty, refusal, truncated, bad_json, good_json = (s.span_id.hex() for s in spans)
    send(server, spans, svc)
    with server.client() as c:
        r = c.post("/evaluators/configs", json={"evaluator": "heuristics", "name": f"h-{svc}", "schedule": "1s",
                                                "filters": {"service": svc}})  # fmt: skip
        assert r.status_code == 201, r.text
        cfg = r.json()
        assert cfg["schedule_kind"] == "interval" and cfg["enabled"] is True

        def failures():
            items = c.get("/evaluations/worst", params={"evaluator": "heuristics", "limit": 100}).json()["items"]
            mine = {(i["span_id"], i["metric"]) for i in items if i["score"] == 0.0 and i["service_name"] == svc}
            return mine if len(mine) >= 4 else None

        fails = wait_for(failures, what="heuristics failures")
        assert fails == {(empty, "empty_output"), (refusal, "refusal"), (truncated, "truncated"),
                         (bad_json, "invalid_json")}  # fmt: skip
        worst = c.get("/evaluations/worst", params={"evaluator": "heuristics", "metric": "refusal"}).json()["items"]
        assert any(w["span_id"] == refusal and w["trace_url"].endswith(w["trace_id"]) for w in worst)
        # Every span got a verdict on every check that applies (JSON only where JSON was asked for).
        scored = c.get(f"/evaluations/traces/{spans[5].trace_id.hex()}").json()["items"]
        assert {(s["metric"], s["score"]) for s in scored} == {
            ("empty_output", 1.0), ("refusal", 1.0), ("truncated", 1.0), ("invalid_json", 1.0)}
        assert all(s["version"] == "2" and s["source"] == "worker" for s in scored)
        findings = {f["type"]: f["spans"] for f in c.get("/evaluations/findings",
                                                           params={"evaluator": "heuristics"}).json()["items"]}  # fmt: skip
        assert findings["refusal"] >= 1 and findings["empty_output"] >= 1

        # Later runs find nothing new: the watermark moved past these spans.
        wait_for(lambda: len([h for h in runs(c, cfg["id"]) if h["status"] != "running"]) >= 3, what="more runs")
        history = [h for h in runs(c, cfg["id"]) if h["status"] != "running"]  # one may be under way
        assert all(h["status"] == "succeeded" for h in history), [h["error"] for h in history]
        assert sum(h["spans_read"] for h in history) == 6
        assert sum(h["spans_scored"] for h in history) == 6
        assert sum(h["results_written"] for h in history) == 6 * 3 + 2
        series = c.get("/evaluations/scores", params={"evaluator": "heuristics", "bucket": "minute"}).json()["items"]
        assert {s["metric"] for s in series} >= {"empty_output", "refusal", "truncated", "invalid_json"}

        # A span arriving later is scored once: by the streaming scorer seconds after it is stored
        # (evaluators/worker/stream.py); the scheduled runs leave it out.
        late = answer("", svc)
        send(server, [late], svc)
        wait_for(lambda: c.get(f"/evaluations/traces/{late.trace_id.hex()}").json()["items"], what="late span")
        assert sum(h["spans_scored"] for h in runs(c, cfg["id"])) == 6

        # Disabled: no more runs.
        assert c.post(f"/evaluators/configs/{cfg['id']}/disable").json()["enabled"] is False
        time.sleep(1.5)
        n = len(runs(c, cfg["id"]))
        time.sleep(2.5)
        assert len(runs(c, cfg["id"])) == n


def test_sampling_is_deterministic_by_span_id(server):
    svc = f"sample-{time.time_ns()}"
    spans = [answer(f"answer {i}", svc) for i in range(40)]
    send(server, spans, svc)
    with server.client() as c:
        ids = []
        for name, rate in (("half-a", 0.5), ("half-b", 0.5), ("none", 0.0)):
            r = c.post("/evaluators/configs", json={"evaluator": "heuristics", "name": f"{name}-{svc}",
                                                    "schedule": "1s", "sampling_rate": rate,
                                                    "filters": {"service": svc}})  # fmt: skip
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for cid in ids:
            wait_for(lambda cid=cid: [h for h in runs(c, cid) if h["status"] == "succeeded"], what="a run")
        time.sleep(3)  # the settle delay: runs after it have seen every span
        read = [sum(h["spans_read"] for h in runs(c, cid)) for cid in ids]
    assert read[2] == 0
    assert 5 <= read[0] <= 35 and read[0] == read[1]


def test_invalid_configs_are_refused_and_change_nothing(server):
    with server.client() as c:
        before = c.get("/evaluators/configs").json()["items"]
        for body, msg in (
            ({"evaluator": "heuristics", "schedule": "61 * * * *"}, "cron"),
            ({"evaluator": "heuristics", "schedule": "every tuesday"}, "cron"),
            ({"evaluator": "heuristics", "sampling_rate": 1.5}, "between 0 and 1"),
            ({"evaluator": "heuristics", "sampling_rate": -0.1}, "between 0 and 1"),
            ({"evaluator": "no-such-scorer"}, "unknown evaluator"),
            ({"evaluator": "heuristics", "filters": {"colour": "red"}}, "unknown filter"),
            ({"evaluator": "heuristics", "name": "bad name!"}, "name"),
        ):
            r = c.post("/evaluators/configs", json=body)
            assert r.status_code == 422, (body, r.text)
            assert msg in r.text, (body, r.text)
        cfg = c.post("/evaluators/configs", json={"evaluator": "heuristics", "name": f"v-{time.time_ns()}",
                                                  "schedule": "*/5 * * * *", "enabled": False}).json()  # fmt: skip
        assert cfg["schedule_kind"] == "cron"
        assert c.post("/evaluators/configs", json={"evaluator": "heuristics", "name": cfg["name"]}).status_code == 409
        r = c.patch(f"/evaluators/configs/{cfg['id']}", json={"sampling_rate": 2, "schedule": "10s"})
        assert r.status_code == 422 and "sampling_rate" in r.text
        assert c.get(f"/evaluators/configs/{cfg['id']}").json()["schedule"] == "*/5 * * * *"
        assert c.patch(f"/evaluators/configs/{cfg['id']}", json={"schedule": "10s"}).json()["schedule_kind"] == "interval"
        assert len(c.get("/evaluators/configs").json()["items"]) == len(before) + 1
        assert c.delete(f"/evaluators/configs/{cfg['id']}").status_code == 204
        assert c.get(f"/evaluators/configs/{cfg['id']}").status_code == 404
        assert server.alive()


def test_app_evaluation_events_land_in_evaluations(server):
    tid, sid = new_trace_id(), new_span_id()
    send(server, [span("chat gpt-4o", genai_chat(), trace_id=tid, span_id=sid)], "app-evals")
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(kvs({"service.name": "app-evals"}))
    rec = rl.scope_logs.add().log_records.add()
    rec.time_unix_nano = time.time_ns()
    rec.event_name = "gen_ai.evaluation.result"
    rec.trace_id, rec.span_id = tid, sid
    rec.attributes.extend(kvs({"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.25,
                               "gen_ai.evaluation.score.label": "irrelevant",
                               "gen_ai.evaluation.explanation": "talks about the weather"}))  # fmt: skip
    assert post(server, req.SerializeToString(), PB, path="/v1/logs").status_code == 200
    with server.client() as c:
        items = wait_for(lambda: c.get(f"/evaluations/traces/{tid.hex()}").json()["items"], what="app score")
        worst = c.get("/evaluations/worst", params={"evaluator": "relevance"}).json()["items"]
    assert items == [{**items[0], "span_id": sid.hex(), "evaluator": "relevance", "metric": "relevance",
                      "score": 0.25, "label": "irrelevant", "explanation": "talks about the weather",
                      "source": "app"}]  # fmt: skip
    assert any(w["span_id"] == sid.hex() for w in worst)


def test_backfill_through_the_cli(server):
    svc = f"backfill-{time.time_ns()}"
    old = time.time_ns() - 3 * 86400 * 10**9  # older than the scheduled runs' look-back
    spans = [span("chat gpt-4o", genai_chat(**{"gen_ai.output.messages": _out("" if i % 2 else "fine")}),
                  start_ns=old + i * 10**9) for i in range(10)]  # fmt: skip
    send(server, spans, svc)
    with server.client() as c:
        cfg = c.post("/evaluators/configs", json={"evaluator": "heuristics", "name": f"bf-{svc}", "schedule": "1h",
                                                  "filters": {"service": svc}, "enabled": False}).json()  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LLMOBS_API_URL": server.api,
           "LLMOBS_API_KEY": server.key or ""}  # fmt: skip
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(old / 1e9 - 60))
    out = subprocess.run([sys.executable, "-m", "collector", "eval", "backfill", "--evaluator", cfg["name"],
                          "--since", since], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "spans scored 10" in out.stdout and "results written 30" in out.stdout
    with server.client() as c:
        history = runs(c, cfg["id"])
        assert [h["kind"] for h in history] == ["backfill"] and history[0]["spans_read"] == 10
        empties = [s for s in spans[1::2]]
        for s in empties:
            scored = c.get(f"/evaluations/traces/{s.trace_id.hex()}").json()["items"]
            assert {(x["metric"], x["score"]) for x in scored} >= {("empty_output", 0.0)}
    bad = subprocess.run([sys.executable, "-m", "collector", "eval", "backfill", "--evaluator", "nope",
                          "--since", since], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 1 and "no evaluator config named 'nope'" in bad.stderr
