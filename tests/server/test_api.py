"""The query API on a real server: filters, grouping, percentiles, unpriced
calls, price overrides, reprice through the CLI, and project isolation."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest

from tests.conftest import ROOT
from tests.otlp_builders import genai_chat, new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import PB, post, wait_trace


def seed(server, tag: str, key: str | None = None) -> dict[str, bytes]:
    """A small known mix tagged with `run.tag=<tag>` so tests can filter on it."""
    t0 = time.time_ns() - 60 * 10**9
    tids = {name: new_trace_id() for name in ("a", "b", "c", "d")}
    common = {"run.tag": tag}
    spans = [
        # trace a: agent -> llm (gpt-4o), user u1, session s1
        span("agent", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", **common},
             trace_id=tids["a"], span_id=(root := new_span_id()), start_ns=t0, duration_ms=900, kind=1),
        span("chat gpt-4o", genai_chat("gpt-4o", input_tokens=1000, output_tokens=100, **{"user.id": "u1", "session.id": "s1"}, **common),
             trace_id=tids["a"], parent=root, start_ns=t0 + 10**6, duration_ms=800),
        # trace b: claude with cache, user u2, an error
        span("chat claude", genai_chat("claude-3-5-sonnet-20241022", "anthropic", input_tokens=200, output_tokens=50,
             **{"gen_ai.usage.cache_read.input_tokens": 1000, "user.id": "u2", "session.id": "s2", "feature": "search"}, **common),
             trace_id=tids["b"], start_ns=t0 + 2 * 10**6, duration_ms=400, error=True),
        # trace c: unknown model (unpriced)
        span("chat mystery", genai_chat("mystery-model-9000", "openai", input_tokens=10, output_tokens=10, **{"user.id": "u1"}, **common),
             trace_id=tids["c"], start_ns=t0 + 3 * 10**6, duration_ms=100),
        # trace d: gpt-4o-mini, searchable text
        span("chat mini", genai_chat("gpt-4o-mini", input_tokens=100, output_tokens=10, **{
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Where is the Zanzibar archipelago?"}]}]',
            "feature": "search"}, **common),
             trace_id=tids["d"], start_ns=t0 + 4 * 10**6, duration_ms=200),
    ]  # fmt: skip
    assert post(server, request(spans, service=f"svc-{tag}").SerializeToString(), PB, key=key).status_code == 200
    for tid in tids.values():
        wait_trace(server, tid, key=key)
    return tids


@pytest.fixture(scope="module")
def seeded(server):
    tag = f"api-{time.time_ns()}"
    return tag, seed(server, tag)


def test_usage_grouped_by_model_exact(server, seeded):
    tag, _ = seeded
    with server.client() as c:
        items = c.get("/usage", params={"attr": f"run.tag={tag}", "group_by": "model", "bucket": "day"}).json()["items"]
    by = {i["group"]: i for i in items}
    assert set(by) == {"gpt-4o", "claude-3-5-sonnet-20241022", "mystery-model-9000", "gpt-4o-mini"}
    assert Decimal(by["gpt-4o"]["cost_total"]) == Decimal("0.0035")  # 1000*2.5 + 100*10 per MTok
    # anthropic: 200 uncached at $3, 1000 cache reads at $0.30, 50 out at $15 per MTok
    c35 = by["claude-3-5-sonnet-20241022"]
    assert c35["input_tokens"] == 1200 and c35["cache_read_tokens"] == 1000 and c35["uncached_input_tokens"] == 200
    assert Decimal(c35["cost_total"]) == Decimal("0.00165")
    assert by["mystery-model-9000"]["cost_total"] is None and by["mystery-model-9000"]["unpriced"] == 1
    assert sum(i["requests"] for i in items) == 4  # the agent span is not an LLM call


def test_usage_group_by_user_and_attribute(server, seeded):
    tag, _ = seeded
    with server.client() as c:
        users = {i["group"]: i for i in c.get("/usage", params={"attr": f"run.tag={tag}", "group_by": "user", "bucket": "day"}).json()["items"]}
        feats = {i["group"]: i for i in c.get("/usage", params={"attr": f"run.tag={tag}", "group_by": "attr:feature", "bucket": "day"}).json()["items"]}
    assert users["u1"]["requests"] == 2 and users["u2"]["requests"] == 1
    assert feats["search"]["requests"] == 2


def test_filters_status_text_session(server, seeded):
    tag, tids = seeded
    with server.client() as c:
        errs = c.get("/spans", params={"attr": f"run.tag={tag}", "status": "error"}).json()["items"]
        assert [s["model"] for s in errs] == ["claude-3-5-sonnet-20241022"]
        hits = c.get("/traces", params={"attr": f"run.tag={tag}", "q": "zanzibar"}).json()["items"]
        assert [h["trace_id"] for h in hits] == [tids["d"].hex()]
        sess = c.get("/traces", params={"attr": f"run.tag={tag}", "session_id": "s1"}).json()["items"]
        assert [h["trace_id"] for h in sess] == [tids["a"].hex()]
        assert sess[0]["span_count"] == 2 and sess[0]["llm_calls"] == 1 and sess[0]["root_name"] == "agent"
        bad = c.get("/spans", params={"status": "broken"})
        assert bad.status_code == 422
        bad = c.get("/usage", params={"group_by": "nonsense"})
        assert bad.status_code == 422 and "cannot group by" in bad.text
        assert c.get("/spans", params={"start": "yesterday-ish"}).status_code == 422


def test_latency_percentiles_and_error_rate(server, seeded):
    tag, _ = seeded
    with server.client() as c:
        (row,) = c.get("/latency", params={"attr": f"run.tag={tag}"}).json()["items"]
    assert row["requests"] == 4 and row["errors"] == 1 and row["error_rate"] == 0.25
    assert 100 <= row["duration_ms"]["p50"] <= 800 and row["duration_ms"]["p99"] == pytest.approx(800, rel=0.01)


def test_trace_tree(server, seeded):
    _, tids = seeded
    with server.client() as c:
        tr = c.get(f"/traces/{tids['a'].hex()}").json()
    (root,) = tr["roots"]
    assert root["name"] == "agent" and root["span_type"] == "agent"
    (child,) = root["children"]
    assert child["model"] == "gpt-4o" and child["user_id"] == "u1"


def test_unpriced_listed_and_override_then_reprice(server, seeded):
    tag, _ = seeded
    with server.client() as c:
        unp = c.get("/unpriced", params={"attr": f"run.tag={tag}"}).json()
        assert [i["model"] for i in unp["items"]] == ["mystery-model-9000"]
        # a bad override is rejected and changes nothing
        r = c.post("/prices", json={"model_pattern": "mystery-(", "input_per_mtok": "1"})
        assert r.status_code == 422
        r = c.post("/prices", json={"model_pattern": "mystery-model-.*", "input_per_mtok": "1000", "output_per_mtok": "2000"})
        assert r.status_code == 201, r.text
        price_id = r.json()["id"]
    since = str(int(time.time()) - 3600)
    out = subprocess.run(
        [sys.executable, "-m", "collector", "reprice", "--since", since, "--api", server.api, "--api-key", server.key],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "before" in out.stdout and "after" in out.stdout
    with server.client() as c:
        by = {i["group"]: i for i in c.get("/usage", params={"attr": f"run.tag={tag}", "group_by": "model", "bucket": "day"}).json()["items"]}
        # 10 in at $1000/MTok + 10 out at $2000/MTok
        assert Decimal(by["mystery-model-9000"]["cost_total"]) == Decimal("0.03")
        assert Decimal(by["gpt-4o"]["cost_total"]) == Decimal("0.0035")  # untouched
        assert c.get("/unpriced", params={"attr": f"run.tag={tag}"}).json()["items"] == []
        assert c.delete(f"/prices/{price_id}").status_code == 200


def test_project_isolation(server, seeded):
    tag, tids = seeded
    with server.client() as c:
        r = c.post("/projects", json={"id": f"iso-{time.time_ns() % 10**9}"})
        assert r.status_code == 201, r.text
        other_key = r.json()["api_key"]
    other_tids = seed(server, tag, key=other_key)  # same tag, other project
    with server.client(other_key) as c:
        assert c.get(f"/traces/{tids['a'].hex()}").status_code == 404
        items = c.get("/usage", params={"attr": f"run.tag={tag}", "bucket": "day"}).json()["items"]
        assert sum(i["requests"] for i in items) == 4  # only its own four calls
    with server.client() as c:
        assert c.get(f"/traces/{other_tids['a'].hex()}").status_code == 404
        items = c.get("/usage", params={"attr": f"run.tag={tag}", "bucket": "day"}).json()["items"]
        assert sum(i["requests"] for i in items) == 4


def test_key_lifecycle_and_revocation(server):
    with server.client() as c:
        created = c.post("/keys", json={"name": "temp"}).json()
        key, key_id = created["api_key"], created["key"]["id"]
        assert key not in str(c.get("/keys").json())  # never shown again
    with server.client(key) as c2:
        assert c2.get("/project").status_code == 200
    with server.client() as c:
        assert c.delete(f"/keys/{key_id}").status_code == 200
    with server.client(key) as c2:
        assert c2.get("/project").status_code == 401
    assert httpx.get(server.api + "/api/v1/spans").status_code == 401


def test_metrics_and_probes(server):
    assert httpx.get(server.api + "/readyz").status_code == 200
    text = httpx.get(server.api + "/metrics").text
    for name in ("llmobs_spans_received_total", "llmobs_spans_stored_total", "llmobs_spans_rejected_total",
                 "llmobs_write_queue_rows", "llmobs_write_latency_seconds_bucket"):  # fmt: skip
        assert name in text


def test_top_users_by_cost(server, seeded):
    tag, _ = seeded
    with server.client() as c:
        r = c.get("/usage/top", params={"attr": f"run.tag={tag}", "group_by": "user", "limit": 2})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["group"] for i in items] == ["u1", "u2"]  # u1: gpt-4o 0.0035 (+ mystery); u2: 0.00165
        by_user = {}
        for i in c.get("/usage", params={"attr": f"run.tag={tag}", "group_by": "user", "bucket": "day"}).json()["items"]:
            by_user[i["group"]] = by_user.get(i["group"], Decimal(0)) + Decimal(i["cost_total"] or 0)
        assert Decimal(items[0]["cost_total"]) == by_user["u1"] and items[0]["requests"] == 2
        assert Decimal(items[1]["cost_total"]) == by_user["u2"] == Decimal("0.00165")
        assert c.get("/usage/top", params={"group_by": "user", "order_by": "bogus"}).status_code == 422


def test_provider_reported_cost_beside_ours(server):
    tag = f"pc-{time.time_ns()}"
    tid = new_trace_id()
    # OpenLIT reports its own cost in gen_ai.usage.cost; ours for 1000 in / 100 out of gpt-4o is 0.0035
    attrs = genai_chat("gpt-4o", input_tokens=1000, output_tokens=100, **{"gen_ai.usage.cost": 0.004, "run.tag": tag})
    sp = span(attrs=attrs, trace_id=tid)
    assert post(server, request([sp], resource={"telemetry.sdk.name": "openlit"}).SerializeToString(), PB).status_code == 200
    wait_trace(server, tid)
    with server.client() as c:
        (row,) = c.get("/costs/provider-comparison", params={"attr": f"run.tag={tag}"}).json()["items"]
    assert row["group"] == "gpt-4o" and row["calls_compared"] == 1
    assert Decimal(row["provider_cost"]) == Decimal("0.004") and Decimal(row["our_cost"]) == Decimal("0.0035")
    assert Decimal(row["difference"]) == Decimal("0.0005")


def test_project_retention_update_is_validated(server):
    with server.client() as c:
        r = c.post("/projects", json={"id": f"ret-{time.time_ns() % 10**9}"})
        key = r.json()["api_key"]
    with server.client(key) as c:
        assert c.patch("/project", json={"retention_days": 0}).status_code == 422
        r = c.patch("/project", json={"retention_days": 7})
        assert r.status_code == 200 and r.json()["retention_days"] == 7
        assert c.get("/project").json()["retention_days"] == 7


def test_cli_projects_keys_and_prices(server):
    def cli(*args: str, key: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "collector", *args, "--api", server.api, "--api-key", key or server.key],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )

    pid = f"cli-{time.time_ns() % 10**9}"
    out = cli("projects", "create", pid, "--retention-days", "14")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith(f"llmobs_{pid}_")
    out = cli("prices", "add", "my-llama-.*", "--gpu-hour", "2.5", "--tokens-per-second", "1000", key=key)
    assert out.returncode == 0, out.stderr
    listed = cli("prices", "list", key=key)
    assert "my-llama-.*" in listed.stdout and "gpu_hour_usd=2.5" in listed.stdout
    bad = cli("prices", "add", "x", "--input", "-1", key=key)
    assert bad.returncode == 1 and "error 422" in bad.stderr
    keys = cli("keys", "list", key=key)
    assert "first key" in keys.stdout


def test_openapi_docs_are_served(server):
    spec = httpx.get(server.api + "/openapi.json").json()
    paths = set(spec["paths"])
    for p in ("/api/v1/spans", "/api/v1/traces", "/api/v1/traces/{trace_id}", "/api/v1/usage", "/api/v1/usage/top",
              "/api/v1/latency", "/api/v1/unpriced", "/api/v1/prices", "/api/v1/keys", "/api/v1/jobs/reprice"):  # fmt: skip
        assert p in paths, p
    assert httpx.get(server.api + "/docs").status_code == 200


def test_many_concurrent_trace_reads(server, seeded):
    """Trace reads take two reader clients each; many at once must neither
    deadlock nor mix up answers."""
    import concurrent.futures as cf

    _, tids = seeded
    ids = [t.hex() for t in tids.values()] * 10

    def get(tid: str) -> str:
        with server.client() as c:
            return c.get(f"/traces/{tid}", timeout=30).json()["trace_id"]

    with cf.ThreadPoolExecutor(16) as ex:
        assert list(ex.map(get, ids)) == ids
