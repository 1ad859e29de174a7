"""The dashboard's aggregate endpoints on a real server: /summary (with the
previous period), /breakdown, /ranked-traces and /costs/cache-savings agree
with the primary endpoints (/usage, /usage/top, /latency, /traces) and with
hand-computed prices."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.otlp_builders import genai_chat, new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import PB, post, wait_trace

MIN = 60 * 10**9


@pytest.fixture(scope="module")
def seeded(server):
    """Two periods of ten minutes: `now` holds four traces, `before` one."""
    tag = f"ins-{time.time_ns()}"
    t0 = (time.time_ns() - 3 * 3600 * 10**9) // MIN * MIN
    common = {"run.tag": tag}
    tids = {k: new_trace_id() for k in ("agent", "cached", "slow", "unpriced", "before")}
    root = new_span_id()
    spans = [
        span("agent", {"gen_ai.operation.name": "invoke_agent", **common}, trace_id=tids["agent"], span_id=root,
             start_ns=t0 + MIN, duration_ms=900, kind=1),
        span("chat gpt-4o", genai_chat("gpt-4o", input_tokens=1000, output_tokens=100, **{
            "user.id": "alice", "session.id": "s1", "gen_ai.response.time_to_first_chunk": 0.25}, **common),
             trace_id=tids["agent"], parent=root, start_ns=t0 + MIN + 10**6, duration_ms=800),
        span("chat claude", genai_chat("claude-3-5-sonnet-20241022", "anthropic", input_tokens=200, output_tokens=50, **{
            "gen_ai.usage.cache_read.input_tokens": 1000, "user.id": "bob", "session.id": "s2"}, **common),
             trace_id=tids["cached"], start_ns=t0 + 2 * MIN, duration_ms=400, error=True),
        span("chat slow", genai_chat("gpt-4o-mini", input_tokens=100, output_tokens=10, **{"user.id": "alice", "session.id": "s1"}, **common),
             trace_id=tids["slow"], start_ns=t0 + 3 * MIN, duration_ms=5000),
        span("chat mystery", genai_chat("mystery-model-9000", "openai", input_tokens=10, output_tokens=10, **{"user.id": "carol"}, **common),
             trace_id=tids["unpriced"], start_ns=t0 + 4 * MIN, duration_ms=100),
        # the previous period: [t0 - 10 min, t0)
        span("chat before", genai_chat("gpt-4o", input_tokens=500, output_tokens=50, **{"user.id": "alice"}, **common),
             trace_id=tids["before"], start_ns=t0 - 5 * MIN, duration_ms=300),
    ]  # fmt: skip
    assert post(server, request(spans, service="svc-insights").SerializeToString(), PB).status_code == 200
    for name, tid in tids.items():
        wait_trace(server, tid, n=2 if name == "agent" else 1)
    window = {"attr": f"run.tag={tag}", "start": str(t0 // 10**9), "end": str((t0 + 10 * MIN) // 10**9)}
    return window, tids


def test_summary_matches_usage_and_latency(server, seeded):
    window, _ = seeded
    with server.client() as c:
        s = c.get("/summary", params=window).json()
        usage = c.get("/usage", params={**window, "bucket": "day"}).json()["items"]
        lat = c.get("/latency", params=window).json()["items"][0]
    cur, prev = s["current"], s["previous"]
    assert cur["requests"] == sum(u["requests"] for u in usage) == 4
    assert cur["errors"] == 1 and cur["error_rate"] == pytest.approx(0.25)
    assert cur["input_tokens"] == sum(u["input_tokens"] for u in usage)
    assert cur["output_tokens"] == sum(u["output_tokens"] for u in usage) == 170
    assert Decimal(cur["cost_total"]) == sum(Decimal(u["cost_total"]) for u in usage)
    assert cur["unpriced"] == 1 and cur["users"] == 3 and cur["sessions"] == 2 and cur["traces"] == 4
    assert cur["latency_ms"] == lat["duration_ms"]
    assert cur["ttft_ms"] == lat["ttft_ms"] == {"p50": 250.0, "p95": 250.0, "p99": 250.0}
    assert prev["requests"] == 1 and prev["input_tokens"] == 500 and prev["users"] == 1
    assert s["previous_range"]["end_ns"] == s["range"]["start_ns"]
    assert s["range"]["end_ns"] - s["range"]["start_ns"] == s["previous_range"]["end_ns"] - s["previous_range"]["start_ns"]


def test_summary_of_an_empty_range_has_zero_totals(server, seeded):
    window, _ = seeded
    with server.client() as c:
        s = c.get("/summary", params={**window, "attr": "run.tag=nothing-here"}).json()
    assert s["current"]["requests"] == 0 and s["current"]["cost_total"] is None
    assert s["current"]["latency_ms"] is None and s["previous"]["requests"] == 0


def test_breakdown_by_user_matches_top_and_latency(server, seeded):
    window, _ = seeded
    with server.client() as c:
        rows = c.get("/breakdown", params={**window, "group_by": "user"}).json()["items"]
        top = c.get("/usage/top", params={**window, "group_by": "user"}).json()["items"]
        lat = {r["group"]: r for r in c.get("/latency", params={**window, "group_by": "user"}).json()["items"]}
    assert [r["group"] for r in rows] == [t["group"] for t in top]
    for r, t in zip(rows, top):
        assert (r["requests"], r["cost_total"], r["input_tokens"], r["cost_per_request"]) == (
            t["requests"], t["cost_total"], t["input_tokens"], t["cost_per_request"])
        assert r["latency_ms"] == lat[r["group"]]["duration_ms"]
    alice = next(r for r in rows if r["group"] == "alice")
    assert alice["requests"] == 2 and alice["traces"] == 2 and alice["sessions"] == 1


def test_breakdown_orders_and_rejects_bad_input(server, seeded):
    window, _ = seeded
    with server.client() as c:
        by_latency = c.get("/breakdown", params={**window, "group_by": "model", "order_by": "latency_p95"}).json()
        assert by_latency["items"][0]["group"] == "gpt-4o-mini"
        bad_group = c.get("/breakdown", params={**window, "group_by": "colour"})
        bad_order = c.get("/breakdown", params={**window, "group_by": "user", "order_by": "vibes"})
        bad_attr = c.get("/summary", params={**window, "attr": "no-equals-sign"})
    assert bad_group.status_code == 422 and "cannot group by" in bad_group.json()["detail"]
    assert bad_order.status_code == 422
    assert bad_attr.status_code == 422 and "key=value" in bad_attr.json()["detail"]


def test_ranked_traces(server, seeded):
    window, tids = seeded
    with server.client() as c:
        slow = c.get("/ranked-traces", params={**window, "order_by": "duration"}).json()["items"]
        costly = c.get("/ranked-traces", params={**window, "order_by": "cost"}).json()["items"]
        newest = c.get("/traces", params=window).json()["items"]
    assert slow[0]["trace_id"] == tids["slow"].hex()
    assert [t["duration_ns"] for t in slow] == sorted((t["duration_ns"] for t in slow), reverse=True)
    costs = [Decimal(t["cost_total"] or 0) for t in costly]
    assert costs == sorted(costs, reverse=True)
    assert {t["trace_id"] for t in slow} == {t["trace_id"] for t in newest}


def test_cache_savings_at_the_uncached_rate(server, seeded):
    """claude-3-5-sonnet: $3/Mtok input, $0.30/Mtok cache read, so 1,000
    cached tokens saved 1000 x (3 - 0.30) / 1e6 = $0.0027."""
    window, tids = seeded
    with server.client() as c:
        res = c.get("/costs/cache-savings", params=window).json()
    (item,) = res["items"]
    assert item["group"] == "claude-3-5-sonnet-20241022" and item["cache_read_tokens"] == 1000
    assert Decimal(item["saving"]) == Decimal("0.0027")
    assert Decimal(res["total_saving"]) == Decimal("0.0027")


def test_top_series_keeps_the_largest_groups_and_folds_the_rest(server, seeded):
    """Top 1 user by cost over the range is alice (gpt-4o 1,000 + 100 tokens
    beats bob's cached claude call); bob and carol fold into "(other)"; per
    bucket, top + other equal /usage's totals to the cent."""
    window, _ = seeded
    with server.client() as c:
        top = c.get("/usage/top", params={**window, "group_by": "user", "limit": 1}).json()["items"]
        res = c.get("/usage/top-series", params={**window, "group_by": "user", "bucket": "minute", "limit": 1}).json()
        usage = c.get("/usage", params={**window, "group_by": "user", "bucket": "minute"}).json()["items"]
        by_req = c.get("/usage/top-series", params={**window, "group_by": "model", "bucket": "day",
                                                   "order_by": "requests", "limit": 10}).json()["items"]  # fmt: skip
    assert top[0]["group"] == "alice"
    series = res["items"]
    assert {i["group"] for i in series if not i["other"]} == {"alice"}
    assert {i["group"] for i in series if i["other"]} == {"(other)"}
    assert sum(i["requests"] for i in series if i["other"]) == 2  # bob, carol
    for b in {u["bucket_start"] for u in usage}:
        want = [u for u in usage if u["bucket_start"] == b]
        got = [i for i in series if i["bucket_start"] == b]
        assert sum(i["requests"] for i in got) == sum(u["requests"] for u in want)
        assert sum(Decimal(i["cost_total"] or 0) for i in got) == sum(Decimal(u["cost_total"] or 0) for u in want)
        assert sum(i["input_tokens"] for i in got) == sum(u["input_tokens"] for u in want)
    alice = [i for i in series if i["group"] == "alice"]
    assert sum(i["requests"] for i in alice) == 2
    # Every model fits in 10: nothing is folded, one row per model for the day.
    assert not any(i["other"] for i in by_req) and sum(i["requests"] for i in by_req) == 4


def test_top_series_rejects_bad_input(server, seeded):
    window, _ = seeded
    with server.client() as c:
        cases = [
            ({"group_by": "colour"}, "cannot group by"),
            ({"group_by": "attr:bad key!"}, "invalid attribute key"),
            ({"group_by": "user", "order_by": "vibes"}, "order_by"),
            ({"group_by": "user", "limit": 0}, "limit"),
            ({"group_by": "user", "bucket": "week"}, "bucket"),
            ({}, "group_by"),
        ]
        for extra, word in cases:
            r = c.get("/usage/top-series", params={**window, **extra})
            assert r.status_code == 422 and word in r.text, (extra, r.text)
        assert c.get("/summary", params=window).status_code == 200  # still answering
    assert server.alive()


def test_failing_spans_rejects_bad_input(server):
    """(The list itself is checked against the Quality page in tests/dashboard/test_pages.py.)"""
    with server.client() as c:
        for q, word in (({"start": "200", "end": "100"}, "start must be before end"), ({"limit": 0}, "limit"),
                        ({"start": "last tuesday"}, "start")):  # fmt: skip
            r = c.get("/evaluations/failing", params=q)
            assert r.status_code == 422 and word in r.text, (q, r.text)
    assert server.alive()
