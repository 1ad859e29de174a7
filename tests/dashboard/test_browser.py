"""Every page in headless Chromium against a real server with demo traffic:
the numbers on screen are the API's for the same filters, filters change
them, a click on a trace opens its waterfall, a span shows its messages,
bad filters are refused with a hint, and writes (price, reprice, keys) land.
A screenshot of each page goes to tests/artifacts/."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from dashboard import filters, fmt
from tests.dashboard.conftest import ARTIFACTS, new_project, start_dashboard, stop_dashboard

expect.set_options(timeout=30_000)  # waits for a rerun on two shared cores; not a timing assertion


def settle(page: Page) -> None:
    """Wait until the script run the last action started has finished."""
    time.sleep(0.3)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", state="attached")


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    settle(page)
    expect(page.locator("h1").first).to_be_visible()


def metric(page: Page, label: str, *, last: bool = False) -> str:
    """A metric's value; `last` picks the lowest one with that label (span
    detail repeats some of the trace's labels)."""
    boxes = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    box = boxes.last if last else boxes
    return box.get_by_test_id("stMetricValue").inner_text().strip()


def shot(page: Page, name: str) -> None:
    page.wait_for_timeout(800)  # let the data grids paint their canvases (a picture, not an assertion)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_exception(page: Page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def api_filters(range_: str = "7d", **kw: str) -> dict[str, str]:
    return dict(filters.validate({"range": range_, **kw}).api())


def click_row(page: Page, table_index: int, row: int) -> None:
    """Tick a row's selection box in a Streamlit dataframe (a canvas grid:
    header 35 px, rows 35 px, the selection column first)."""
    grid = page.get_by_test_id("stDataFrame").nth(table_index)
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 35 * row + 17)


def test_overview_numbers_equal_the_api(server, seeded, dash, page):
    open_page(page, dash.url + "/?range=7d")
    with seeded.client(server) as c:
        cur = c.get("/summary", params=api_filters()).json()["current"]
    assert cur["requests"] == seeded.batch.llm_calls
    assert metric(page, "Requests") == fmt.count(cur["requests"])
    assert metric(page, "Cost") == fmt.usd(cur["cost_total"])
    assert metric(page, "Error rate") == fmt.pct(cur["error_rate"])
    assert metric(page, "Input tokens") == fmt.count(cur["input_tokens"])
    assert metric(page, "Output tokens") == fmt.count(cur["output_tokens"])
    assert metric(page, "Users") == fmt.count(cur["users"])
    assert metric(page, "Traces") == fmt.count(cur["traces"]) == fmt.count(seeded.batch.traces)
    assert metric(page, "Latency p95") == fmt.ms(cur["latency_ms"]["p95"])
    assert metric(page, "TTFT p50") == fmt.ms(cur["ttft_ms"]["p50"])
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    expect(page.get_by_text("Top models")).to_be_visible()
    no_exception(page)
    shot(page, "overview")


def test_filters_change_the_numbers(server, seeded, dash, page):
    open_page(page, dash.url + "/?range=7d&model=gpt-4o")
    with seeded.client(server) as c:
        everything = c.get("/summary", params=api_filters()).json()["current"]
        gpt4o = c.get("/summary", params=api_filters(model="gpt-4o")).json()["current"]
        top_user = c.get("/breakdown", params={**api_filters(), "group_by": "user", "limit": 1}).json()["items"][0]
    assert 0 < gpt4o["requests"] < everything["requests"]
    assert metric(page, "Requests") == fmt.count(gpt4o["requests"])
    assert metric(page, "Cost") == fmt.usd(gpt4o["cost_total"])
    # Typing a user in the sidebar narrows further.
    box = page.get_by_test_id("stSidebar").get_by_label("User")
    box.fill(top_user["group"])
    box.press("Enter")
    with seeded.client(server) as c:
        both = c.get("/summary", params=api_filters(model="gpt-4o", user_id=top_user["group"])).json()["current"]
    expect(page.get_by_test_id("stMetric").filter(has_text="Requests").get_by_test_id("stMetricValue")).to_have_text(
        fmt.count(both["requests"]))
    assert metric(page, "Cost") == fmt.usd(both["cost_total"])
    expect(page).to_have_url(re.compile("user_id="))  # the URL follows the filters


def test_malformed_filters_are_refused_with_a_hint(seeded, dash, page):
    open_page(page, dash.url + "/?range=7d&attr=no-equals-sign&status=maybe")
    expect(page.get_by_text("must look like key=value, e.g. app.feature=search").first).to_be_visible()
    expect(page.get_by_text("status 'maybe' is unknown: use ok or error").first).to_be_visible()
    assert metric(page, "Requests") == fmt.count(seeded.batch.llm_calls)  # the rest still applies
    open_page(page, dash.url + "/?range=custom&start=last+tuesday&end=2026-11-25T10:00")
    expect(page.get_by_text("is not a time: write it like 2026-11-24T09:00").first).to_be_visible()
    no_exception(page)


def test_traces_list_to_waterfall_to_messages(server, seeded, dash, page):
    open_page(page, dash.url + "/traces?range=7d&service=support-agent")
    with seeded.client(server) as c:
        first = c.get("/traces", params={**api_filters(service="support-agent"), "limit": 50}).json()["items"][0]
        trace = c.get(f"/traces/{first['trace_id']}").json()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    shot(page, "traces-list")
    click_row(page, 0, 0)
    expect(page.get_by_text("Waterfall")).to_be_visible()
    settle(page)
    expect(page).to_have_url(re.compile(f"trace={first['trace_id']}"))
    root = trace["roots"][0]
    expect(page.locator("h1").first).to_have_text(root["name"])
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    # The first LLM span opens by default: its system prompt, user message and tool call.
    chat = root["children"][0]
    user_text = chat["input_messages"][0]["parts"][0]["content"]
    system_text = chat["system_instructions"][0]["content"]
    expect(page.get_by_text(user_text, exact=True)).to_be_visible()
    expect(page.get_by_text(system_text, exact=True)).to_be_visible()
    expect(page.get_by_text("Tool call").first).to_be_visible()
    assert metric(page, "Input tokens", last=True) == fmt.count(chat["input_tokens"])
    assert metric(page, "Cost", last=True) == fmt.usd(chat["cost_total"])
    shot(page, "trace-waterfall")
    # Clicking the last span (the final chat) shows the assistant's answer.
    last = root["children"][-1]
    click_row(page, 0, len(trace["roots"][0]["children"]))  # row 0 is the root
    answer = next(p["content"] for m in last["output_messages"] for p in m["parts"] if p["type"] == "text")
    expect(page.get_by_text(answer, exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(f"span={last['span_id']}"))
    no_exception(page)
    shot(page, "span-messages")


def test_deep_link_to_a_tool_span(server, seeded, dash, page):
    with seeded.client(server) as c:
        tid = c.get("/traces", params={**api_filters(service="support-agent"), "limit": 1}).json()["items"][0]["trace_id"]
        trace = c.get(f"/traces/{tid}").json()
    tool = next(s for s in trace["roots"][0]["children"] if s["span_type"] == "tool")
    open_page(page, f"{dash.url}/traces?trace={tid}&span={tool['span_id']}")
    expect(page.get_by_text(f"Span: {tool['name']}")).to_be_visible()
    expect(page.get_by_text("Tool result").first).to_be_visible()
    status = tool["output_messages"][0]["parts"][0]["response"]["status"]
    expect(page.get_by_text(status).first).to_be_visible()
    open_page(page, f"{dash.url}/traces?trace=not-a-trace-id")
    expect(page.get_by_text("is not valid: a trace id is 32 lowercase hex characters")).to_be_visible()
    no_exception(page)


def test_costs_page_numbers_equal_the_api(server, seeded, dash, page):
    open_page(page, dash.url + "/costs?range=7d")
    with seeded.client(server) as c:
        cur = c.get("/summary", params=api_filters()).json()["current"]
        savings = c.get("/costs/cache-savings", params=api_filters()).json()
        unpriced = c.get("/unpriced", params=api_filters()).json()
        top = c.get("/breakdown", params={**api_filters(), "group_by": "model", "limit": 10}).json()["items"]
        comparison = c.get("/costs/provider-comparison", params=api_filters()).json()["items"]
    assert metric(page, "Total cost") == fmt.usd(cur["cost_total"])
    assert metric(page, "Cost per request") == fmt.usd(fmt.dec(cur["cost_total"]) / cur["requests"])
    assert metric(page, "Cost per user") == fmt.usd(fmt.dec(cur["cost_total"]) / cur["users"])
    assert metric(page, "Saved by cached tokens") == fmt.usd(savings["total_saving"])
    assert metric(page, "Unpriced calls") == fmt.count(unpriced["total_calls"]) != "0"
    assert top[0]["group"] and comparison and comparison[0]["group"] == "gpt-4o-mini"
    expect(page.get_by_text(f"Top 10 by cost: model")).to_be_visible()
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    no_exception(page)
    shot(page, "costs")


def test_costs_stacked_by_attribute(seeded, dash, page):
    open_page(page, dash.url + "/costs?range=7d")
    page.get_by_label("Stack and rank by").click()
    page.get_by_role("option", name="Attribute…").click()
    settle(page)
    expect(page.get_by_text("Cost over time by app.feature")).to_be_visible()
    no_exception(page)


def test_users_page_lists_users_and_their_traces(server, seeded, dash, page):
    open_page(page, dash.url + "/users?range=7d")
    with seeded.client(server) as c:
        top = c.get("/breakdown", params={**api_filters(), "group_by": "user", "limit": 100}).json()["items"]
    expect(page.get_by_text(f"{len(top)} users with LLM calls")).to_be_visible()
    click_row(page, 0, 0)
    expect(page.get_by_text(f"Traces of user {top[0]['group']}")).to_be_visible()
    with seeded.client(server) as c:
        traces = c.get("/traces", params={**api_filters(), "user_id": top[0]["group"]}).json()["items"]
    links = page.get_by_test_id("stPageLink")
    expect(links.first).to_be_visible()
    assert links.count() == len(traces)
    no_exception(page)
    shot(page, "users")


def test_add_a_price_then_reprice(server, seeded, dash, page):
    """The unpriced self-hosted model gets a price through the form, and the
    reprice button prices the stored calls: the API then reports none unpriced."""
    open_page(page, dash.url + "/costs?range=7d")
    form = page.get_by_test_id("stForm").filter(has_text="Add a price")
    form.get_by_label("Input $/Mtok").fill("0.50")
    form.get_by_label("Output $/Mtok").fill("1.50")
    form.get_by_role("button", name="Add price").click()
    expect(page.get_by_text("added for 'acme\\-coder\\-7b'")).to_be_visible()
    with seeded.client(server) as c:
        assert any(p["model_pattern"] == "acme\\-coder\\-7b" for p in c.get("/prices").json()["items"])
    page.get_by_role("button", name="Reprice this range").click()
    expect(page.get_by_text(re.compile(r"Repriced: \d+ of \d+ spans changed"))).to_be_visible()
    with seeded.client(server) as c:
        assert c.get("/unpriced", params=api_filters()).json()["total_calls"] == 0
    shot(page, "costs-repriced")


def test_settings_create_and_revoke_a_key(server, seeded, dash, page):
    open_page(page, dash.url + "/settings")
    shot(page, "settings")
    form = page.get_by_test_id("stForm").filter(has_text="New key name")
    form.get_by_label("New key name").fill("browser-test")
    form.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("shown only once")).to_be_visible()
    new_key = page.get_by_test_id("stCode").filter(has_text="llmobs_").first.inner_text().strip()
    with server.client(new_key) as c:
        assert c.get("/project").status_code == 200
    settle(page)
    revoke = page.get_by_test_id("stForm").filter(has_text="Key to revoke")
    revoke.get_by_label("Key to revoke").click()
    page.get_by_role("option", name=re.compile(r"^browser-test")).click()
    revoke.get_by_role("button", name="Revoke").click()
    settle(page)
    deadline = time.monotonic() + 40  # the server caches key lookups for 30 s
    with server.client(new_key) as c:
        while c.get("/project").status_code != 401:
            assert time.monotonic() < deadline, "revoked key still accepted"
            time.sleep(1)
    no_exception(page)


@pytest.fixture(scope="module")
def broken(server, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Dashboards against an API that is not there, and against an empty project."""
    from tests.conftest import free_port

    tmp = tmp_path_factory.mktemp("dash-broken")
    down = start_dashboard(f"http://127.0.0.1:{free_port()}", "nokey", tmp / "down.log")
    empty = start_dashboard(server.api, new_project(server, "empty"), tmp / "empty.log")
    try:
        yield down, empty
    finally:
        stop_dashboard(down)
        stop_dashboard(empty)


def test_api_down_shows_a_clear_message(broken, page):
    down, _ = broken
    for path in ("/", "/costs", "/traces", "/users", "/quality", "/alerts", "/replay", "/settings"):
        open_page(page, down.url + path)
        expect(page.get_by_text("The llmobs API is unreachable").first).to_be_visible()
        expect(page.get_by_text("Cannot reach the llmobs API at").first).to_be_visible()
        no_exception(page)
    shot(page, "api-down")


def test_empty_project_explains_how_to_send_data(broken, page):
    _, empty = broken
    open_page(page, empty.url + "/")
    expect(page.get_by_text("How to send data to llmobs")).to_be_visible()
    expect(page.get_by_text("OTEL_EXPORTER_OTLP_ENDPOINT").first).to_be_visible()
    expect(page.get_by_text("auto-instrumentations-node").first).to_be_visible()
    expect(page.get_by_text("llmobs demo").first).to_be_visible()
    no_exception(page)
    shot(page, "empty-state")
