"""The Quality, Alerts and Replay pages in headless Chromium against a real
server: the numbers on screen are the API's, a filter changes them, a failing
span's link opens its trace, an invalid rule shows the API's own error and
changes nothing, and a replay run against a real vLLM server (SmolLM2 on the
CPU) shows its variants.  Each project here is its own, so the demo project
of test_browser.py keeps its exact counts.  Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from dashboard import demo, filters, fmt
from dashboard.views.quality import failing_by_span, summarize
from tests.dashboard.conftest import new_project, start_dashboard, stop_dashboard
from tests.dashboard.test_browser import metric, no_exception, open_page, settle, shot
from tests.otlp_builders import genai_chat, request, span

expect.set_options(timeout=60_000)  # reruns on two shared cores; not a timing assertion
PII_TEXTS = [
    "Please email the refund to maria.gonzalez@example.com today.",
    "Call me back on +1 415 555 0132 about the invoice.",
    "My card is 4111 1111 1111 1111, charge it again.",
]


def wait_for(fn, what: str, debug=lambda: "", timeout: float = 300.0) -> Any:  # type: ignore[no-untyped-def]
    """Poll until the background worker has produced something (not a timing
    assertion: the limit only turns a hang into a failure, with `debug()`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {debug()}"
        time.sleep(1)


def window(range_: str = "7d") -> dict[str, str]:
    start, end = filters.validate({"range": range_}).window()
    return {"start": str(start), "end": str(end)}


@pytest.fixture(scope="module")
def quality(server, tmp_path_factory) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    """Demo traffic plus three answers that leak PII, in a project of its own,
    scored by the real in-server worker: heuristics, pii (presidio + spaCy),
    grounding (MiniLM) on the RAG service, and drift on token counts and
    latency between the last two one-hour windows."""
    key = new_project(server, "quality")
    now = time.time_ns()
    # A day and a half of traffic, and a busier last two hours: drift compares
    # the last hour with the hour before (its default window).
    batches = (demo.generate(80, days=1.5, seed=5, now_ns=now), demo.generate(60, days=2 / 24, seed=6, now_ns=now))
    for batch in batches:
        for _ in demo.send(batch, server.otlp_http, key):
            pass
    leaks = [span("chat gpt-4o", genai_chat("gpt-4o", **{"gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": t}]}])})) for t in PII_TEXTS]  # fmt: skip
    r = httpx.post(server.otlp_http + "/v1/traces", content=request(leaks, service="billing-bot").SerializeToString(),
                   headers={"content-type": "application/x-protobuf", **server.headers(key)}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    drift = {"evaluator": "drift", "schedule": "15s", "filters": {"span_type": "llm"},
             "params": {"min_samples": 5, "features": ["input_tokens", "output_tokens", "latency_ms", "finish_reason"]}}
    scorers = [
        {"evaluator": "heuristics", "schedule": "2s"},
        {"evaluator": "pii", "schedule": "2s", "filters": {"service": "billing-bot"}},
        {"evaluator": "grounding", "schedule": "3s", "filters": {"service": "docs-search", "span_type": "llm"}},
    ]  # fmt: skip
    with server.client(key) as c:
        calls = sum(b.llm_calls for b in batches) + len(PII_TEXTS)
        wait_for(lambda: c.get("/summary", params=window()).json()["current"]["requests"] == calls, "the traffic stored")
        w = window()
        history = lambda: c.get("/evaluators/runs").json()["items"][:8]  # noqa: E731 - shown when a wait fails
        # Drift first: the worker runs two configs at once, and the model-based scorers take a while to load.
        assert c.post("/evaluators/configs", json=drift).status_code == 201
        wait_for(lambda: c.get("/evaluations/drift", params=w).json()["items"], "drift results", history)
        for body in scorers:
            resp = c.post("/evaluators/configs", json=body)
            assert resp.status_code == 201, resp.text
        wait_for(lambda: c.get("/evaluations/findings", params={**w, "evaluator": "pii"}).json()["items"], "pii findings",
                 history)  # fmt: skip
        wait_for(lambda: {i["evaluator"] for i in c.get("/evaluations/scores", params={**w, "bucket": "day"}).json()["items"]}
                 >= {"heuristics", "pii", "grounding"}, "scores of three evaluators", history)  # fmt: skip

        def totals() -> tuple[int, int]:
            scores = c.get("/evaluations/scores", params={**w, "bucket": "day"}).json()["items"]
            failing = c.get("/evaluations/failing", params={**w, "limit": 500}).json()["items"]
            return sum(i["n"] for i in scores if i["evaluator"] != "drift"), len(failing)

        # Caught up: every stored span scored, so the page and the API see the same numbers.
        seen: list[tuple[int, int]] = []
        wait_for(lambda: seen.append(totals()) or (len(seen) > 2 and seen[-1] == seen[-2] == seen[-3]),
                 "the worker to catch up", lambda: seen[-3:])  # fmt: skip
    d = start_dashboard(server.api, key, tmp_path_factory.mktemp("dash-quality") / "dashboard.log")
    try:
        yield key, d
    finally:
        stop_dashboard(d)


def test_quality_page_shows_the_api_numbers(server, quality, page: Page):
    key, d = quality
    open_page(page, d.url + "/quality?range=7d")
    w = window()
    with server.client(key) as c:
        scores = c.get("/evaluations/scores", params={**w, "bucket": "hour"}).json()["items"]
        pii = c.get("/evaluations/findings", params={**w, "evaluator": "pii"}).json()["items"]
        drift = c.get("/evaluations/drift", params=w).json()["items"]
        failing = c.get("/evaluations/failing", params={**w, "limit": 20}).json()["items"]
        runs = c.get("/evaluators/runs", params={"limit": 50}).json()["items"]
    table = summarize(scores)
    assert metric(page, "Results") == fmt.count(int(table["Results"].sum()))
    assert metric(page, "Flagged") == fmt.count(int(table["Flagged"].sum()))
    assert {f["type"] for f in pii} >= {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"}
    for f in pii:
        expect(page.get_by_text(f["type"], exact=True).first).to_be_attached()
    assert drift and failing and runs
    expect(page.get_by_text("Drift against the baseline window")).to_be_visible()
    expect(page.get_by_text("Grounding and hallucination")).to_be_visible()
    expect(page.get_by_test_id("stPageLink")).to_have_count(len(failing_by_span(failing)))
    no_exception(page)
    shot(page, "quality")


def test_quality_evaluator_filter_changes_the_numbers(server, quality, page: Page):
    key, d = quality
    open_page(page, d.url + "/quality?range=7d")
    with server.client(key) as c:
        scores = c.get("/evaluations/scores", params={**window(), "bucket": "hour"}).json()["items"]
        pii_failing = c.get("/evaluations/failing", params={**window(), "evaluator": "pii", "limit": 20}).json()["items"]
    everything = fmt.count(int(summarize(scores)["Results"].sum()))
    only_pii = fmt.count(int(summarize([s for s in scores if s["evaluator"] == "pii"])["Results"].sum()))
    assert everything != only_pii
    assert metric(page, "Results") == everything
    page.get_by_label("Evaluator", exact=True).first.click()
    page.get_by_role("option", name="pii", exact=True).click()
    settle(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Results").get_by_test_id("stMetricValue")).to_have_text(only_pii)
    assert len(failing_by_span(pii_failing)) == len(PII_TEXTS)
    expect(page.get_by_test_id("stPageLink")).to_have_count(len(PII_TEXTS))
    no_exception(page)


def test_failing_span_link_opens_its_trace(server, quality, page: Page):
    key, d = quality
    with server.client(key) as c:
        first = c.get("/evaluations/failing", params={**window(), "evaluator": "pii", "limit": 1}).json()["items"][0]
        trace = c.get(f"/traces/{first['trace_id']}").json()
    open_page(page, d.url + "/quality?range=7d")
    page.get_by_label("Evaluator", exact=True).first.click()
    page.get_by_role("option", name="pii", exact=True).click()
    settle(page)
    page.get_by_test_id("stPageLink").filter(has_text="pii/pii_detected").first.click()
    settle(page)
    expect(page).to_have_url(re.compile(f"trace={first['trace_id']}"))
    expect(page.get_by_text("Waterfall")).to_be_visible()
    expect(page.locator("h1").first).to_have_text(trace["roots"][0]["name"])
    expect(page.get_by_text(f"Span: {trace['roots'][0]['name']}")).to_be_visible()
    no_exception(page)


def test_evaluator_config_can_be_switched_off(server, quality, page: Page):
    key, d = quality
    open_page(page, d.url + "/quality?range=7d")
    page.get_by_label("Config", exact=True).click()
    page.get_by_role("option", name="heuristics (heuristics)").click()
    settle(page)
    form = page.get_by_test_id("stForm").filter(has_text="Enabled")
    form.get_by_text("Enabled").click()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved heuristics.")).to_be_visible()
    with server.client(key) as c:
        cfg = next(x for x in c.get("/evaluators/configs").json()["items"] if x["name"] == "heuristics")
    assert cfg["enabled"] is False
    # A schedule the API refuses: its message is shown and nothing changes.
    form = page.get_by_test_id("stForm").filter(has_text="Turn on an evaluator")
    form.get_by_label("Schedule", exact=True).fill("every tuesday")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_text("The API rejected this request").first).to_be_visible()
    with server.client(key) as c:
        assert len(c.get("/evaluators/configs").json()["items"]) == 4
    no_exception(page)


# ---- alerts


@pytest.fixture(scope="module")
def alerts(server, tmp_path_factory) -> Iterator[tuple[str, Any, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """A project with traffic, a hook to a dead receiver (so the delivery log
    has failed attempts), a budget it has already overspent (so it fires at
    once) and a rule on a cost threshold of zero."""
    key = new_project(server, "alerts")
    batch = demo.generate(30, days=0.2, seed=9, now_ns=time.time_ns())
    for _ in demo.send(batch, server.otlp_http, key):
        pass
    from tests.conftest import free_port

    with server.client(key) as c:
        hook = c.post("/hooks", json={"name": "ops", "url": f"http://127.0.0.1:{free_port()}/hook"}).json()
        budget = c.post("/budgets", json={"name": "tiny", "limit_usd": "0.0001", "period": "day",
                                          "hook_ids": [hook["id"]]}).json()  # fmt: skip
        rule = c.post("/alerts/rules", json={"name": "any-cost", "metric": "cost", "threshold": 0, "comparison": ">",
                                             "window_seconds": 86400, "hook_ids": [hook["id"]]}).json()  # fmt: skip
        wait_for(lambda: len(c.get("/alerts/events").json()["items"]) >= 2, "the rule and the budget to fire")
        wait_for(lambda: any(x["attempts"] >= 1 for x in c.get("/deliveries").json()["items"]), "delivery attempts")
    d = start_dashboard(server.api, key, tmp_path_factory.mktemp("dash-alerts") / "dashboard.log")
    try:
        yield key, d, {"hook": hook, "budget": budget, "rule": rule}
    finally:
        stop_dashboard(d)


def tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    settle(page)


def test_alerts_page_lists_rules_budgets_history_and_deliveries(server, alerts, page: Page):
    key, d, made = alerts
    open_page(page, d.url + "/alerts")
    with server.client(key) as c:
        budget = c.get("/budgets").json()["items"][0]
        events = c.get("/alerts/events").json()["items"]
        deliveries = c.get("/deliveries").json()["items"]
    assert metric(page, "Rules") == "1" and metric(page, "Budgets") == "1"
    firing = {(e["rule_id"], e["budget_id"], e["group_key"]) for e in events if e["status"] == "firing"}
    assert metric(page, "Firing now") == fmt.count(len(firing))
    shot(page, "alerts-rules")
    tab(page, "Budgets")
    bd = budget["burn_down"]
    expect(page.get_by_text(f"{fmt.usd(bd['spent_usd'])} of {fmt.usd(bd['limit_usd'])} this day")).to_be_visible()
    shot(page, "alerts-budgets")
    tab(page, "History")
    expect(page.get_by_role("tabpanel", name="History").get_by_test_id("stDataFrame")).to_be_visible()
    shot(page, "alerts-history")
    tab(page, "Delivery log")
    expect(page.get_by_role("tabpanel", name="Delivery log").get_by_test_id("stDataFrame")).to_be_visible()
    assert deliveries and any(x["attempts"] >= 1 for x in deliveries)
    assert metric(page, "Failed deliveries") == fmt.count(sum(1 for x in deliveries if x["status"] == "failed"))
    shot(page, "alerts-deliveries")
    no_exception(page)


def test_invalid_rule_shows_the_api_error_and_changes_nothing(server, alerts, page: Page):
    key, d, _ = alerts
    open_page(page, d.url + "/alerts")
    form = page.get_by_test_id("stForm").filter(has_text="New rule")
    form.get_by_label("Name", exact=True).fill("judge-low")
    form.get_by_label("Metric", exact=True).click()
    page.get_by_role("option", name="eval_score", exact=True).click()
    form.get_by_label("Threshold", exact=True).fill("0.5")
    form.get_by_role("button", name="Create rule").click()  # eval_score without params.evaluator
    expect(page.get_by_text("The API rejected this request").first).to_be_visible()
    expect(page.get_by_text("eval_score needs params.evaluator").first).to_be_visible()
    form.get_by_label("Threshold", exact=True).fill("lots")
    form.get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("threshold 'lots' is not a number").first).to_be_visible()
    with server.client(key) as c:
        assert [r["name"] for r in c.get("/alerts/rules").json()["items"]] == ["any-cost"]
    assert server.alive()
    # The same form with the evaluator named is accepted.
    form.get_by_label("Threshold", exact=True).fill("0.5")
    form.get_by_label("Params (JSON)", exact=True).fill('{"evaluator": "grounding"}')
    form.get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("Rule judge-low created.")).to_be_visible()
    settle(page)
    with server.client(key) as c:
        rule = next(r for r in c.get("/alerts/rules").json()["items"] if r["name"] == "judge-low")
    assert rule["metric"] == "eval_score" and rule["params"] == {"evaluator": "grounding"} and rule["threshold"] == 0.5
    # Edit it in place: same rule, new threshold.
    change = page.get_by_test_id("stForm").filter(has_text="Change a rule")
    change.get_by_label("Rule", exact=True).click()
    page.get_by_role("option", name="judge-low (on)").click()
    settle(page)
    change.get_by_role("button", name="Edit", exact=True).click()
    form = page.get_by_test_id("stForm").filter(has_text="Edit rule judge-low")
    expect(form).to_be_visible()
    form.get_by_label("Threshold", exact=True).fill("0.7")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Rule judge-low saved.")).to_be_visible()
    settle(page)
    with server.client(key) as c:
        edited = c.get(f"/alerts/rules/{rule['id']}").json()
    assert edited["threshold"] == 0.7 and edited["params"] == {"evaluator": "grounding"}
    # Switch it off, then delete it.
    change = page.get_by_test_id("stForm").filter(has_text="Change a rule")
    change.get_by_label("Rule", exact=True).click()
    page.get_by_role("option", name="judge-low (on)").click()
    settle(page)
    change.get_by_role("button", name="Switch on/off").click()
    expect(page.get_by_text("Rule judge-low switched off.")).to_be_visible()
    settle(page)
    with server.client(key) as c:
        assert c.get(f"/alerts/rules/{rule['id']}").json()["enabled"] is False
    change = page.get_by_test_id("stForm").filter(has_text="Change a rule")
    change.get_by_label("Rule", exact=True).click()
    page.get_by_role("option", name="judge-low (off)").click()
    settle(page)
    change.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Rule judge-low deleted.")).to_be_visible()
    with server.client(key) as c:
        assert c.get(f"/alerts/rules/{rule['id']}").status_code == 404
    no_exception(page)


def test_create_a_hook_shows_its_secret_once(server, alerts, page: Page):
    key, d, _ = alerts
    open_page(page, d.url + "/alerts")
    tab(page, "Hooks")
    form = page.get_by_test_id("stForm").filter(has_text="New hook")
    form.get_by_label("Name", exact=True).fill("bad")
    form.get_by_label("URL", exact=True).fill("ftp://example.com")
    form.get_by_role("button", name="Create hook").click()
    expect(page.get_by_text("url must be an http(s) URL").first).to_be_visible()
    tab(page, "Hooks")
    form = page.get_by_test_id("stForm").filter(has_text="New hook")
    form.get_by_label("Name", exact=True).fill("pager")
    form.get_by_label("URL", exact=True).fill("https://example.com/pager")
    form.get_by_role("button", name="Create hook").click()
    tab(page, "Hooks")
    expect(page.get_by_text("shown only once").first).to_be_visible()
    with server.client(key) as c:
        names = [h["name"] for h in c.get("/hooks").json()["items"]]
    assert sorted(names) == ["ops", "pager"]
    no_exception(page)


# ---- replay


@pytest.fixture(scope="module")
def replayed(server, vllm_baseline, tmp_path_factory) -> Iterator[tuple[str, Any, str]]:  # type: ignore[no-untyped-def]
    """Four captured chats replayed against the real vLLM server as two
    variants: the baseline, and a candidate capped at 8 output tokens (so it
    disagrees with the baseline and fails the verdict)."""
    from tests.replay.test_replay_vllm import chat_attrs, wait_job

    key = new_project(server, "replay")
    spans = [span("chat", chat_attrs(q, "answer"), start_ns=time.time_ns() - 60 * 10**9)
             for q in ("What is the capital of France?", "Name three colours.", "Count to five.", "Say hello.")]  # fmt: skip
    r = httpx.post(server.otlp_http + "/v1/traces", content=request(spans, service="chat-frontend").SerializeToString(),
                   headers={"content-type": "application/x-protobuf", **server.headers(key)}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    body = {
        "selection": {"service": "chat-frontend", "start": str(time.time() - 3600), "limit": 10},
        "variants": [{"name": "base", "base_urls": [vllm_baseline.base_url], "model": vllm_baseline.model,
                      "gpu_hour_usd": 1.2},
                     {"name": "short", "base_urls": [vllm_baseline.base_url], "model": vllm_baseline.model,
                      "params": {"max_tokens": 8}, "gpu_hour_usd": 1.2}],
        "baseline": "base",
        "options": {"concurrency": 1, "temperature_zero": True},
    }  # fmt: skip
    with server.client(key) as c:
        wait_for(lambda: len(c.get("/spans", params={"service": "chat-frontend"}).json()["items"]) == 4, "spans")
        sub = c.post("/replay/runs", json=body)
        assert sub.status_code == 202, sub.text
        job = wait_job(c, sub.json()["job"]["id"])
        assert job["status"] == "succeeded", job["error"]
    d = start_dashboard(server.api, key, tmp_path_factory.mktemp("dash-replay") / "dashboard.log")
    try:
        yield key, d, sub.json()["run_id"]
    finally:
        stop_dashboard(d)


def test_replay_page_shows_runs_and_the_variant_report(server, replayed, page: Page):
    key, d, run_id = replayed
    with server.client(key) as c:
        report = c.get(f"/replay/runs/{run_id}/report").json()
    open_page(page, d.url + "/replay")
    expect(page.get_by_text(f"Run {run_id}")).to_be_visible()
    expect(page).to_have_url(re.compile(f"run={run_id}"))
    assert metric(page, "Calls selected") == fmt.count(report["selected"]) == "4"
    assert metric(page, "Variants") == "2"
    variants = page.get_by_test_id("stTable").first
    expect(variants).to_contain_text("base (baseline)")
    expect(variants).to_contain_text(fmt.ms(report["variants"]["base"]["e2e_ms"]["p95"]))
    expect(variants).to_contain_text(fmt.ms(report["variants"]["short"]["ttft_ms"]["p50"]))
    outcome = page.get_by_test_id("stTable").nth(1)
    expect(outcome).to_contain_text(f"{report['variants']['short']['vs_baseline']['rouge_l']:.3f}")
    expect(outcome).to_contain_text(fmt.count(report["variants"]["short"]["output_tokens"]))
    verdict = report["variants"]["short"]["verdict"]
    expect(page.get_by_text(re.compile(r"^short: " + ("fail" if verdict["status"] == "fail" else "pass")))).to_be_visible()
    for reason in verdict["reasons"]:
        expect(page.get_by_text(reason, exact=False).first).to_be_visible()
    expect(page.get_by_text("Speculative decoding").first).to_be_visible()
    engine = report["variants"]["base"]["engine"]
    if engine is None:  # /metrics not scraped: the page says so
        expect(page.get_by_text("No engine metrics were recorded").first).to_be_visible()
    else:
        expect(page.get_by_test_id("stTable").nth(2)).to_contain_text(
            "no drafts" if not engine["spec_drafts"] else fmt.count(engine["spec_drafts"]))
    no_exception(page)
    shot(page, "replay")
    open_page(page, d.url + "/replay?run=not-a-run")
    expect(page.get_by_text("is not one of this project's last").first).to_be_visible()
    no_exception(page)
