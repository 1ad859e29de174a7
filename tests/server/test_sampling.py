"""Ingest sampling on a real server: the same traffic sent to a sampled and an
unsampled project gives identical usage and cost totals, while only the
traces the rules keep (errors, slow spans, PII, the trace-id share) keep content."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from tests.otlp_builders import genai_chat, kvs, new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import PB, flat, post, wait_trace

SHARE = 0.3
N_TRACES = 60
ERRORS = range(0, 6)  # traces whose LLM span fails
SLOW = range(6, 10)  # traces whose root takes 6 s
PII = range(10, 14)  # traces whose prompt holds an SSN, a card number, an e-mail, an IBAN
PII_TEXT = ("my SSN is 536-22-8741", "card 4539 1488 0343 6467 exp 09/29", "write to jane.roe@example.org",
            "IBAN DE89 3704 0044 0532 0130 00")
LOOKALIKE = range(14, 17)  # look-alikes that are not PII: they follow the hash
LOOKALIKE_TEXT = ("order 4539 1488 0343 6468 shipped", "upgrade to version 10.2.3.4", "ticket 536-2-28741")


def expected_by_hash(trace_id: bytes) -> bool:
    """The documented rule, written out independently of collector/sampling.py."""
    return int.from_bytes(hashlib.blake2b(trace_id, digest_size=8).digest(), "big") < SHARE * 2**64


def build_traffic() -> tuple[bytes, bytes, list[bytes], list[tuple[bytes, bytes]]]:
    t0 = time.time_ns() - 120 * 10**9
    spans, tids, llm_ids = [], [], []
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "My secret plan " + "x" * 400}]}])
    for i in range(N_TRACES):
        tid, root, llm = new_trace_id(), new_span_id(), new_span_id()
        while (i in PII or i in LOOKALIKE) and expected_by_hash(tid):  # only the PII rule can keep these
            tid = new_trace_id()
        tids.append(tid)
        llm_ids.append((tid, llm))
        start = t0 + i * 10**6
        spans.append(span("agent run", {"gen_ai.operation.name": "invoke_agent", "feature": f"f{i % 3}"}, trace_id=tid,
                          span_id=root, start_ns=start, duration_ms=6000 if i in SLOW else 500, kind=1))  # fmt: skip
        model = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022")[i % 3]
        provider = "anthropic" if model.startswith("claude") else "openai"
        text = messages
        if i in PII or i in LOOKALIKE:
            extra = PII_TEXT[i - PII.start] if i in PII else LOOKALIKE_TEXT[i - LOOKALIKE.start]
            text = json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"My secret plan: {extra}"}]}])
        attrs = genai_chat(model, provider, input_tokens=100 + i, output_tokens=10 + i,
                           **{"gen_ai.input.messages": text, "feature": f"f{i % 3}", "user.id": f"u{i % 5}"})  # fmt: skip
        spans.append(span("chat", attrs, trace_id=tid, parent=root, span_id=llm, start_ns=start + 1000,
                          duration_ms=400, error=i in ERRORS))  # fmt: skip
    traces = request(spans, service="sampled-app").SerializeToString()
    logs = logs_service_pb2.ExportLogsServiceRequest()
    sl = logs.resource_logs.add().scope_logs.add()
    for tid, sid in llm_ids:
        rec = sl.log_records.add(time_unix_nano=t0, trace_id=tid, span_id=sid, event_name="gen_ai.user.message")
        rec.body.kvlist_value.values.extend(kvs({"content": "hello from a log event"}))
        ev = sl.log_records.add(time_unix_nano=t0, trace_id=tid, span_id=sid, event_name="gen_ai.evaluation.result")
        ev.attributes.extend(kvs({"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.5}))
    return traces, logs.SerializeToString(), tids, llm_ids


def new_project(server, pid: str) -> str:
    with server.client() as c:
        r = c.post("/projects", json={"id": pid, "name": pid})
        assert r.status_code == 201, r.text
        return r.json()["api_key"]


@pytest.fixture(scope="module")
def sampled_and_full(server):
    stamp = time.time_ns()
    key_s, key_f = new_project(server, f"sampled-{stamp}"), new_project(server, f"full-{stamp}")
    with server.client(key_s) as c:
        r = c.patch("/project", json={"sampling": {"keep_share": SHARE, "keep_errors": True, "slow_ms": 5000}})
        assert r.status_code == 200, r.text
        assert r.json()["sampling"] == {"keep_share": SHARE, "keep_errors": True, "slow_ms": 5000.0, "keep_pii": True}
    traces, logs, tids, llm_ids = build_traffic()
    for key in (key_s, key_f):
        assert post(server, logs, PB, path="/v1/logs", key=key).status_code == 200
        assert post(server, traces, PB, key=key).status_code == 200
    for key in (key_s, key_f):
        wait_trace(server, tids[-1], n=2, key=key)
    return key_s, key_f, tids, llm_ids


def test_invalid_rules_are_refused_and_change_nothing(server, sampled_and_full):
    key_s = sampled_and_full[0]
    with server.client(key_s) as c:
        for bad in ({"keep_share": 1.5}, {"keep_share": -0.1}, {"slow_ms": -5}, {"keep_share": 0.5, "surprise": 1}, {"keep_pii": "sometimes"},
                    {"keep_errors": "sometimes"}):  # fmt: skip
            r = c.patch("/project", json={"sampling": bad})
            assert r.status_code == 422, (bad, r.text)
        assert c.get("/project").json()["sampling"]["keep_share"] == SHARE


def test_totals_equal_the_unsampled_truth(server, sampled_and_full):
    key_s, key_f, _, _ = sampled_and_full
    for group in ("model", "attr:feature", "user"):
        got = []
        for key in (key_s, key_f):
            with server.client(key) as c:
                items = c.get("/usage", params={"group_by": group, "bucket": "day"}).json()["items"]
            got.append(sorted((i["group"], i["requests"], i["input_tokens"], i["output_tokens"], i["cost_total"],
                               i["errors"]) for i in items))  # fmt: skip
        assert got[0] == got[1], group
        assert sum(row[1] for row in got[0]) == N_TRACES
    lat = []
    for key in (key_s, key_f):
        with server.client(key) as c:
            lat.append(c.get("/latency", params={"group_by": "model"}).json()["items"])
    assert lat[0] == lat[1]


def test_content_kept_only_where_the_rules_say(server, sampled_and_full):
    key_s, key_f, tids, _ = sampled_and_full
    kept = {i for i, tid in enumerate(tids) if i in ERRORS or i in SLOW or i in PII or expected_by_hash(tid)}
    assert 0 < len(kept) < N_TRACES
    for i, tid in enumerate(tids):
        tr = wait_trace(server, tid, n=2, key=key_s)
        (llm,) = [s for s in flat(tr) if s["name"] == "chat"]
        bodies = [e["event_name"] for e in llm["genai_events"]]
        if i in kept:
            assert llm["content_kept"] == 1 and "My secret plan" in json.dumps(llm["input_messages"]), i
            assert "gen_ai.input.messages" in llm["span_attributes"]
        else:
            assert llm["content_kept"] == 0, i
            assert "My secret plan" not in json.dumps(llm), i
            assert "gen_ai.input.messages" not in llm["span_attributes"]
            assert llm["span_attributes"]["feature"] == f"f{i % 3}"  # short attributes stay
            assert "hello from a log event" not in json.dumps(llm)
        # Log events arrive on their own, often before their span: their content
        # follows the trace-id share alone (errors and slow spans are not known yet).
        assert ("gen_ai.user.message" in bodies) == expected_by_hash(tid), i
        assert "gen_ai.evaluation.result" in bodies  # results are never sampled away
    with server.client(key_s) as c:
        stats = c.get("/sampling").json()
    assert stats["llm_calls"] == N_TRACES and stats["llm_calls_with_content"] == len(kept)
    assert stats["spans"] == 2 * N_TRACES and stats["spans_with_content"] == 2 * len(kept)
    with server.client(key_f) as c:
        assert c.get("/sampling").json()["llm_content_share"] == 1.0

