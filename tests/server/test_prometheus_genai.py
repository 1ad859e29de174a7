"""GenAI aggregates on /metrics: equal to the API's figures for the same data,
labelled by project/service/provider/model, with the label cap folding extra
values into "other"."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import start_server, stop_server
from tests.otlp_builders import genai_chat, new_span_id, new_trace_id, request, span
from tests.server.test_api import seed
from tests.server.test_otlp_http import PB, post


def scrape(server) -> dict[str, list]:
    text = httpx.get(server.api + "/metrics", timeout=10).text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def project_samples(samples, name: str, project: str) -> list:
    return [s for s in samples.get(name, []) if s.labels.get("project") == project]


def wait_requests(server, project: str, n: int, timeout: float = 30) -> dict[str, list]:
    deadline = time.monotonic() + timeout
    while True:
        m = scrape(server)
        total = sum(s.value for s in project_samples(m, "llmobs_genai_requests", project))
        if total >= n or time.monotonic() > deadline:
            assert total == n, f"{total} requests on /metrics, expected {n}"
            return m
        time.sleep(0.2)


def new_project(server, name: str) -> tuple[str, str]:
    with server.client() as c:
        r = c.post("/projects", json={"id": name, "name": name})
        assert r.status_code == 201, r.text
        body = r.json()
    return body["project"]["id"], body["api_key"]


def test_metrics_equal_the_api(server):
    project, key = new_project(server, f"prom-{time.time_ns()}")
    tag = f"prom-{time.time_ns()}"
    seed(server, tag, key=key)
    m = wait_requests(server, project, 4)
    with server.client(key) as c:
        usage = {i["group"]: i for i in c.get("/usage", params={"group_by": "model", "bucket": "day"}).json()["items"]}
    by_model = {s.labels["model"]: s.value for s in project_samples(m, "llmobs_genai_requests", project)}
    assert by_model == {k: v["requests"] for k, v in usage.items()}
    cost = {s.labels["model"]: s.value for s in project_samples(m, "llmobs_genai_cost_usd", project)}
    for model, item in usage.items():
        if item["cost_total"] is None:
            assert cost[model] == 0.0
        else:
            assert abs(Decimal(str(cost[model])) - Decimal(item["cost_total"])) < Decimal("1e-12"), model
    unpriced = {s.labels["model"]: s.value for s in project_samples(m, "llmobs_genai_unpriced_requests", project)}
    assert unpriced["mystery-model-9000"] == 1 and unpriced["gpt-4o"] == 0
    tokens = {(s.labels["model"], s.labels["type"]): s.value for s in project_samples(m, "llmobs_genai_tokens", project)}
    claude = usage["claude-3-5-sonnet-20241022"]
    assert tokens[("claude-3-5-sonnet-20241022", "input")] == claude["uncached_input_tokens"] == 200
    assert tokens[("claude-3-5-sonnet-20241022", "cache_read")] == claude["cache_read_tokens"] == 1000
    errors = {s.labels["model"]: s.value for s in project_samples(m, "llmobs_genai_errors", project)}
    assert errors["claude-3-5-sonnet-20241022"] == 1 and sum(errors.values()) == 1
    # the latency histogram: 4 calls of 800, 400, 100 and 200 ms
    buckets = [s for s in project_samples(m, "llmobs_genai_request_duration_seconds", project)
               if s.name.endswith("_bucket")]  # fmt: skip
    le = {}
    for s in buckets:
        le[s.labels["le"]] = le.get(s.labels["le"], 0) + s.value
    assert le["0.1"] == 1 and le["0.25"] == 2 and le["0.5"] == 3 and le["1.0"] == 4 and le["+Inf"] == 4
    assert {s.labels["service"] for s in project_samples(m, "llmobs_genai_requests", project)} == {f"svc-{tag}"}


def test_time_to_first_token_histogram(server):
    project, key = new_project(server, f"prom-ttft-{time.time_ns()}")
    t0 = time.time_ns() - 10**9
    spans = [span("chat", genai_chat("gpt-4o", **{"gen_ai.server.time_to_first_token": ttft}), trace_id=new_trace_id(),
                  span_id=new_span_id(), start_ns=t0, duration_ms=900) for ttft in (0.03, 0.3, 2.0)]  # fmt: skip
    spans.append(span("chat", genai_chat("gpt-4o"), trace_id=new_trace_id(), span_id=new_span_id(), start_ns=t0, duration_ms=900))
    assert post(server, request(spans).SerializeToString(), PB, key=key).status_code == 200
    m = wait_requests(server, project, 4)
    samples = project_samples(m, "llmobs_genai_time_to_first_token_seconds", project)
    count = sum(s.value for s in samples if s.name.endswith("_count"))
    total = sum(s.value for s in samples if s.name.endswith("_sum"))
    le = {s.labels["le"]: s.value for s in samples if s.name.endswith("_bucket")}
    assert count == 3 and abs(total - 2.33) < 1e-9  # the call with no TTFT is not observed
    assert le["0.05"] == 1 and le["0.4"] == 2 and le["3.0"] == 3


def test_label_cap_folds_into_other(tmp_path):
    srv = start_server(tmp_path / "srv", extra_env={"LLMOBS_METRICS_LABEL_CAP": "2"})
    try:
        t0 = time.time_ns() - 10**9
        spans = [span("chat", genai_chat(f"model-{i}"), trace_id=new_trace_id(), span_id=new_span_id(), start_ns=t0 + i,
                      duration_ms=10) for i in range(5)]  # fmt: skip
        assert post(srv, request(spans).SerializeToString(), PB).status_code == 200
        project = "default"
        deadline = time.monotonic() + 30
        while True:
            samples = scrape(srv).get("llmobs_genai_requests", [])
            models = {s.labels["model"]: s.value for s in samples if s.name.endswith("_total")}
            if sum(models.values()) >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(models) == 3 and models["other"] == 3, models
        assert all(s.labels["project"] == project for s in samples)
    finally:
        stop_server(srv)


def test_label_cap_of_zero_is_refused(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    r = subprocess.run([sys.executable, "-m", "collector", "up"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LLMOBS_DATA_DIR": str(tmp_path),
                            "LLMOBS_METRICS_LABEL_CAP": "0"})  # fmt: skip
    assert r.returncode != 0
    assert "metrics_label_cap" in (r.stdout + r.stderr)


def test_evaluator_scores_and_pii_findings_equal_the_api(server):
    """Score summaries (count, sum per evaluator and metric) and PII findings
    by entity type on /metrics equal what the evaluations API reads back."""
    import json

    project, key = new_project(server, f"prom-eval-{time.time_ns()}")
    texts = ["Your SSN 536-22-8726 is on file; mail me at jane.roe@example.com.", "I'm sorry, but I can't help.",
             "Card 4111 1111 1111 1111 and SSN 412-55-1234.", "The parcel ships tomorrow."]  # fmt: skip
    with server.client(key) as c:
        for evaluator in ("pii", "heuristics"):
            r = c.post("/evaluators/configs", json={"evaluator": evaluator, "schedule": "1s"})
            assert r.status_code == 201, r.text
        t0 = time.time_ns() - 10**9
        spans = [span("chat", genai_chat("gpt-4o", **{"gen_ai.output.messages": json.dumps(
                     [{"role": "assistant", "parts": [{"type": "text", "content": t}]}])}),
                      trace_id=new_trace_id(), span_id=new_span_id(), start_ns=t0 + i) for i, t in enumerate(texts)]  # fmt: skip
        assert post(server, request(spans).SerializeToString(), PB, key=key).status_code == 200

        def api_scores() -> dict[tuple[str, str], tuple[int, float]]:
            items = c.get("/evaluations/scores", params={"bucket": "day"}).json()["items"]
            out: dict[tuple[str, str], tuple[int, float]] = {}
            for i in items:
                n, total = out.get((i["evaluator"], i["metric"]), (0, 0.0))
                out[(i["evaluator"], i["metric"])] = (n + i["n"], total + i["mean"] * i["n"])
            return out

        deadline = time.monotonic() + 240  # the PII model loads on first use
        while True:
            expected = api_scores()
            m = scrape(server)
            counts = {(s.labels["evaluator"], s.labels["metric"]): s.value
                      for s in project_samples(m, "llmobs_eval_score", project) if s.name.endswith("_count")}  # fmt: skip
            if (sum(n for n, _ in expected.values()) >= 4 * 4 and expected.get(("pii", "pii_detected"), (0,))[0] == 4
                    and counts == {k: n for k, (n, _) in expected.items()}):  # fmt: skip
                break
            assert time.monotonic() < deadline, (expected, counts)
            time.sleep(0.5)
        sums = {(s.labels["evaluator"], s.labels["metric"]): s.value
                for s in project_samples(m, "llmobs_eval_score", project) if s.name.endswith("_sum")}  # fmt: skip
        assert sums == {k: pytest.approx(total) for k, (_, total) in expected.items()}
        findings = {f["type"]: f["findings"] for f in c.get("/evaluations/findings").json()["items"]}
    pii = {s.labels["entity_type"]: s.value for s in project_samples(m, "llmobs_pii_findings", project)
           if s.name.endswith("_total")}  # fmt: skip
    assert pii == findings and pii["US_SSN"] == 2 and pii["CREDIT_CARD"] == 1
