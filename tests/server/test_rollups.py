"""The per-minute rollup is exact: it matches the spans table under retried
exports, late spans and repricing, for any time range (partial minutes)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.otlp_builders import genai_chat, new_trace_id, request, span
from tests.server.test_otlp_http import PB, post, wait_trace

MIN = 60 * 10**9


@pytest.fixture(scope="module")
def project(server):
    with server.client() as c:
        r = c.post("/projects", json={"id": f"roll-{time.time_ns() % 10**9}"})
        assert r.status_code == 201
        return r.json()["api_key"]


def usage(server, key, **params):
    with server.client(key) as c:
        return c.get("/usage", params=params).json()


def totals(doc):
    return (
        sum(i["requests"] for i in doc["items"]),
        sum(i["input_tokens"] for i in doc["items"]),
        sum(Decimal(i["cost_total"] or 0) for i in doc["items"]),
    )


def test_rollup_exact_under_retries_late_spans_and_partial_minutes(server, project):
    base = (time.time_ns() // MIN - 30) * MIN  # 30 minutes ago, minute aligned
    spans = []
    for i in range(30):
        model = ("gpt-4o", "gpt-4o-mini", "claude-3-5-haiku-20241022")[i % 3]
        prov = "anthropic" if model.startswith("claude") else "openai"
        spans.append(span(attrs=genai_chat(model, prov, input_tokens=100 + i, output_tokens=10), start_ns=base + i * MIN + 7 * 10**9))
    body = request(spans, service="rollup-svc").SerializeToString()
    for _ in range(3):  # retried twice
        assert post(server, body, PB, key=project).status_code == 200
    # a late span for an old minute
    late_tid = new_trace_id()
    late = request([span(attrs=genai_chat(input_tokens=5000, output_tokens=1), trace_id=late_tid, start_ns=base + 2 * MIN)])
    assert post(server, late.SerializeToString(), PB, key=project).status_code == 200
    wait_trace(server, late_tid, key=project)

    start, end = str(base / 1e9), str((base + 31 * MIN) / 1e9)
    truth = usage(server, project, start=start, end=end, bucket="hour", group_by="model", span_type="llm")
    assert truth["source"] == "spans"
    assert totals(truth)[0] == 31 and totals(truth)[1] == sum(100 + i for i in range(30)) + 5000
    time.sleep(2.5)  # let the server re-aggregate the touched minutes
    for group_by in ("model", "provider", "service", None):
        params = {"start": start, "end": end, "bucket": "minute"}
        if group_by:
            params["group_by"] = group_by
        rolled = usage(server, project, **params)
        assert rolled["source"] == "rollup"
        assert totals(rolled) == totals(truth), group_by
    # a range that starts and ends mid-minute
    mid = usage(server, project, start=str((base + 5 * MIN + 30 * 10**9) / 1e9), end=str((base + 9 * MIN + 30 * 10**9) / 1e9),
                bucket="minute", group_by="model")  # fmt: skip
    exact = usage(server, project, start=str((base + 5 * MIN + 30 * 10**9) / 1e9), end=str((base + 9 * MIN + 30 * 10**9) / 1e9),
                  bucket="minute", group_by="model", span_type="llm")  # fmt: skip
    assert mid["source"] == "rollup" and totals(mid) == totals(exact)
    assert totals(mid)[0] == 4  # minutes 6, 7, 8, 9 at :07; minute 5's span is at :07 < :30
    # filtered by model (a rollup dimension)
    one = usage(server, project, start=start, end=end, bucket="day", model="gpt-4o")
    assert one["source"] == "rollup" and totals(one)[0] == 11  # 10 + the late span


def test_rollup_follows_fresh_data_without_waiting(server, project):
    tid = new_trace_id()
    now = time.time_ns()
    assert post(server, request([span(attrs=genai_chat(input_tokens=777), trace_id=tid, start_ns=now - 10**9)]).SerializeToString(), PB, key=project).status_code == 200
    r = usage(server, project, start=str((now - 5 * 10**9) / 1e9), bucket="minute")
    assert r["source"] == "rollup"
    assert totals(r)[1] == 777  # a pending minute is read from the spans table
