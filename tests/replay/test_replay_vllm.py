"""Replay end to end on the real engine: captured calls go into a real llmobs
server over OTLP, a replay run (a server-side job) rebuilds them and sends
them to two real vLLM servers (SmolLM2-135M on the CPU): a baseline and the
same model with ngram speculative decoding.

Speculative decoding is lossless, so greedy outputs must match token for
token; the prompts ask the model to repeat a list from its prompt, which is
what ngram drafts predict, so acceptance counters must move.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import orjson
import pytest

from tests.conftest import ROOT
from tests.otlp_builders import new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import PB, post

WORDS = ("apple banana cherry grape lemon mango olive peach pear plum river stone cloud forest candle "
         "window garden silver copper marble").split()  # fmt: skip
SYSTEM = "You are a careful assistant. Answer with the list only."
N_CALLS = 20
MAX_TOKENS = 48


def prompt(i: int) -> str:
    items = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(6)]
    return "Repeat this list exactly, one item per line:\n" + "\n".join(items) + "\n" + "\n".join(items)


def production_answer(vllm, text: str) -> str:
    """What 'production' answered: the same model, called once, greedily."""
    resp = httpx.post(
        f"{vllm.base_url}/chat/completions",
        json={"model": vllm.model, "temperature": 0, "max_tokens": MAX_TOKENS,
              "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]},  # fmt: skip
        timeout=120,
    )
    resp.raise_for_status()
    return resp.json()["choices"][0]["message"]["content"]


def chat_attrs(text: str, answer: str) -> dict:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "smollm2-prod",
        "gen_ai.response.model": "smollm2-prod",
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.max_tokens": MAX_TOKENS,
        "gen_ai.request.top_p": 1.0,
        "gen_ai.request.seed": 7,
        "gen_ai.usage.input_tokens": 60,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.system_instructions": orjson.dumps([{"type": "text", "content": SYSTEM}]).decode(),
        "gen_ai.input.messages": orjson.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}]).decode(),
        "gen_ai.output.messages": orjson.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ).decode(),
        "user.id": "replay-user",
    }


@pytest.fixture(scope="module")
def project(server):
    with server.client() as c:
        r = c.post("/projects", json={"id": f"replay-{time.time_ns() % 10**9}", "retention_days": 30})
        assert r.status_code in (200, 201), r.text
        return r.json()["project"]["id"], r.json()["api_key"]


@pytest.fixture(scope="module")
def captured(server, project, vllm_baseline):
    """N_CALLS replayable chat calls plus two that cannot be replayed."""
    _, key = project
    t0 = time.time_ns() - 120 * 10**9
    spans, texts = [], {}
    for i in range(N_CALLS):
        text = prompt(i)
        sid = new_span_id()
        texts[sid.hex()] = (text, production_answer(vllm_baseline, text))
        spans.append(span("chat smollm2-prod", chat_attrs(*texts[sid.hex()]), trace_id=new_trace_id(), span_id=sid,
                          start_ns=t0 + i * 200 * 10**6, duration_ms=900))  # fmt: skip
    no_content = {k: v for k, v in chat_attrs("x", "y").items() if "messages" not in k and "instructions" not in k}
    spans.append(span("chat smollm2-prod", no_content, start_ns=t0 + 30 * 10**9, duration_ms=500))
    embed = {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small",
             "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 8}  # fmt: skip
    spans.append(span("embeddings", embed, start_ns=t0 + 31 * 10**9, duration_ms=50))
    resp = post(server, request(spans, service="chat-frontend").SerializeToString(), PB, key=key)
    assert resp.status_code == 200, resp.text
    with server.client(key) as c:
        for _ in range(100):
            items = c.get("/spans", params={"service": "chat-frontend", "limit": 100}).json()["items"]
            if len(items) >= N_CALLS + 2:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"spans not stored: {len(items)}")
    return texts


def wait_job(c: httpx.Client, job_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def counter(vllm, name: str) -> float:
    text = httpx.get(vllm.metrics_url, timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


@pytest.fixture(scope="module")
def replayed(server, project, captured, vllm_baseline, vllm_speculative):
    _, key = project
    body = {
        "selection": {"service": "chat-frontend", "start": str(time.time() - 3600), "limit": 100, "seed": 1},
        "variants": [
            {"name": "base", "base_urls": [vllm_baseline.base_url], "model": vllm_baseline.model,
             "gpu_hour_usd": 1.2},
            {"name": "ngram", "base_urls": [vllm_speculative.base_url], "model": vllm_speculative.model,
             "gpu_hour_usd": 1.2},
        ],  # fmt: skip
        "baseline": "base",
        # One request at a time: batching changes the float reduction order,
        # and outputs must differ only if speculative decoding were lossy.
        "options": {"concurrency": 1, "temperature_zero": True},
    }
    with server.client(key) as c:
        sub = c.post("/replay/runs", json=body)
        assert sub.status_code == 202, sub.text
        job = wait_job(c, sub.json()["job"]["id"])
        assert job["status"] == "succeeded", job["error"]
        return sub.json()["run_id"], job


def test_every_call_reconstructed_and_unreplayable_counted(server, project, captured, replayed):
    run_id, job = replayed
    with server.client(project[1]) as c:
        report = c.get(f"/replay/runs/{run_id}/report").json()
        results = c.get(f"/replay/runs/{run_id}/results").json()["items"]
    assert report["selected"] == N_CALLS + 2
    assert report["replayable"] == N_CALLS
    assert report["unreplayable"] == {"content_not_captured": 1, "unsupported_operation": 1}
    assert {r["source_span_id"] for r in results} == set(captured)
    for name in ("base", "ngram"):
        assert report["variants"][name]["ok"] == N_CALLS, report["variants"][name]
        assert report["variants"][name]["errors"] == 0
    assert job["result"]["replayable"] == N_CALLS


def test_request_rebuilt_exactly(server, project, captured, replayed):
    """The stored request of every replayed call carries the captured system
    prompt, message and parameters (temperature forced to 0 by the option)."""
    run_id, _ = replayed
    with server.client(project[1]) as c:
        results = c.get(f"/replay/runs/{run_id}/results", params={"variant": "ngram"}).json()["items"]
    assert len(results) == N_CALLS
    for r in results:
        body = json.loads(r["request_json"])
        text, _ = captured[r["source_span_id"]]
        assert body["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        assert body["model"] == "smollm2"
        assert (body["temperature"], body["max_tokens"], body["top_p"], body["seed"]) == (0.0, MAX_TOKENS, 1.0, 7)
        assert "tools" not in body


def test_greedy_outputs_identical_between_variants(server, project, captured, replayed):
    run_id, _ = replayed
    with server.client(project[1]) as c:
        results = c.get(f"/replay/runs/{run_id}/results").json()["items"]
        report = c.get(f"/replay/runs/{run_id}/report").json()
    by = {}
    for r in results:
        by.setdefault(r["source_span_id"], {})[r["variant"]] = r["output_text"]
    assert len(by) == N_CALLS
    for sid, outs in by.items():
        assert outs["base"] == outs["ngram"], sid
        assert outs["base"], sid
    assert report["variants"]["ngram"]["vs_baseline"]["exact_match"] == 1.0
    assert report["variants"]["ngram"]["vs_baseline"]["rouge_l"] == 1.0
    assert report["variants"]["ngram"]["vs_baseline"]["embedding_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert report["embedding_cosine"].startswith("MiniLM")
    # Production ran the same model greedily: the replays agree with it too.
    assert report["variants"]["base"]["vs_production"]["n"] == N_CALLS
    assert report["variants"]["base"]["vs_production"]["exact_match"] == 1.0


def test_evaluator_scores_on_replayed_outputs(server, project, replayed):
    """PII and grounding (the evaluators' real scorers, run in the server)
    scored every replayed answer of both variants; the answers repeat a list
    from their own prompt, so grounding finds them supported."""
    run_id, _ = replayed
    with server.client(project[1]) as c:
        report = c.get(f"/replay/runs/{run_id}/report").json()
    assert report["evaluators"] == {"pii": {"status": "ok"}, "grounding": {"status": "ok"}}
    for name in ("base", "ngram"):
        scores = report["variants"][name]["scores"]
        assert scores["pii"]["n"] == N_CALLS and scores["pii"]["version"]
        assert scores["grounding"]["n"] + scores["grounding"]["not_applicable"] == N_CALLS
        assert scores["grounding"]["labels"].get("grounded", 0) >= N_CALLS // 2, scores["grounding"]
    # Identical outputs, identical scores.
    assert report["variants"]["base"]["scores"] == report["variants"]["ngram"]["scores"]


def test_acceptance_metrics_recorded(server, project, replayed):
    run_id, _ = replayed
    with server.client(project[1]) as c:
        rows = c.get(f"/replay/runs/{run_id}/engine-metrics").json()["items"]
        report = c.get(f"/replay/runs/{run_id}/report").json()
    by = {r["variant"]: r for r in rows}
    assert set(by) == {"base", "ngram"}
    spec = by["ngram"]
    assert spec["spec_drafts"] > 0 and spec["spec_draft_tokens"] > 0 and spec["spec_accepted_tokens"] > 0
    assert 0 < spec["acceptance_rate"] <= 1
    assert spec["mean_accepted_length"] > 1
    assert len(spec["spec_accepted_per_pos"]) == 4 and spec["spec_accepted_per_pos"][0] > 0
    assert by["base"]["spec_drafts"] == 0
    assert by["base"]["deltas"]["vllm:request_success_total"] == N_CALLS
    engine = report["variants"]["ngram"]["engine"]
    assert engine["acceptance_rate"] == pytest.approx(spec["acceptance_rate"])
    assert len(engine["acceptance_per_position"]) == 4


def test_report_stored_with_latency_cost_and_verdict(server, project, replayed):
    run_id, _ = replayed
    with server.client(project[1]) as c:
        report = c.get(f"/replay/runs/{run_id}/report").json()
        run = c.get(f"/replay/runs/{run_id}").json()
    for name in ("base", "ngram"):
        v = report["variants"][name]
        assert 0 < v["ttft_ms"]["p50"] <= v["e2e_ms"]["p50"]
        assert v["e2e_ms"]["p50"] <= v["e2e_ms"]["p95"] <= v["e2e_ms"]["p99"]
        assert v["itl_ms"]["p50"] is not None
        assert v["requests_per_second"] > 0 and v["output_tokens_per_second"] > 0
        assert v["cost_self_hosted_usd"] > 0
        assert v["output_tokens"] > 0
    paired = report["variants"]["ngram"]["paired"]
    assert paired["n"] == N_CALLS and paired["e2e"]["p95_ratio_ci95"][0] <= paired["e2e"]["p95_ratio_ci95"][1]
    assert report["variants"]["ngram"]["verdict"]["status"] in ("pass", "fail")
    assert report["verdict"] == report["variants"]["ngram"]["verdict"]["status"]
    assert run["summary"]["verdict"] == report["verdict"]
    assert run["job"]["status"] == "succeeded"


def test_replayed_calls_exported_as_spans(server, project, replayed):
    """Every replayed call is a span in llmobs (traces and cost views), linked
    to its run and variant."""
    run_id, _ = replayed
    counts = {}
    with server.client(project[1]) as c:
        for variant in ("base", "ngram"):
            for _ in range(100):
                items = c.get("/spans", params={
                    "service": "llmobs-replay", "attr": [f"llmobs.replay.run_id={run_id}", f"llmobs.replay.variant={variant}"],
                    "limit": 100}).json()["items"]  # fmt: skip
                if len(items) >= N_CALLS:
                    break
                time.sleep(0.2)
            counts[variant] = len(items)
            assert all(s["model"] == "smollm2" and s["output_tokens"] > 0 and s["span_type"] == "llm" for s in items)
        usage = c.get("/usage", params={"group_by": "service", "start": str(time.time() - 3600)}).json()
    assert counts == {"base": N_CALLS, "ngram": N_CALLS}
    assert "llmobs-replay" in json.dumps(usage)


def test_resume_skips_what_succeeded(server, project, replayed, vllm_baseline, vllm_speculative):
    """A rerun continues where the run stopped: here nothing is left, so no
    request reaches either engine, and the CLI prints the same report."""
    run_id, _ = replayed
    before = counter(vllm_baseline, "vllm:request_success_total") + counter(vllm_speculative, "vllm:request_success_total")
    out = subprocess.run(
        [sys.executable, "-m", "collector", "replay", "run", "--resume", run_id, "--json",
         "--api", server.api, "--api-key", project[1]],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["variants"]["ngram"]["ok"] == N_CALLS
    after = counter(vllm_baseline, "vllm:request_success_total") + counter(vllm_speculative, "vllm:request_success_total")
    assert after == before
    table = subprocess.run(
        [sys.executable, "-m", "collector", "replay", "report", run_id, "--api", server.api, "--api-key", project[1]],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "ngram" in table.stdout and "verdict" in table.stdout


def test_shadow_traffic_replays_new_calls_with_a_rate_cap(server, project, vllm_baseline):
    """Calls ingested after the shadow loop starts are replayed against the
    candidate (at most `max_per_minute`), and each window gets a report
    comparing the candidate with what production answered."""
    _, key = project
    body = {
        "selection": {"service": "shadowed-app"},
        "variants": [{"name": "cand", "base_urls": [vllm_baseline.base_url], "model": vllm_baseline.model}],
        "options": {"concurrency": 1, "temperature_zero": True},
        "shadow": {"sample_rate": 1.0, "max_per_minute": 2, "poll_seconds": 0.5, "window_seconds": 3600},
    }
    with server.client(key) as c:
        started = c.post("/replay/shadow", json=body)
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        bad = c.post("/replay/shadow", json={**body, "selection": {"stratify_by": "nonsense"}})
        assert bad.status_code == 422 and "stratify_by" in bad.json()["detail"]
        spans = []
        for i in range(3):
            text = prompt(100 + i)
            spans.append(span("chat smollm2-prod", chat_attrs(text, production_answer(vllm_baseline, text)),
                              start_ns=time.time_ns(), duration_ms=500))  # fmt: skip
        resp = post(server, request(spans, service="shadowed-app").SerializeToString(), PB, key=key)
        assert resp.status_code == 200
        for _ in range(600):
            status = c.get(f"/replay/shadow/{run_id}").json()["shadow"]
            if status["replayed"] >= 2 and status["seen"] >= 3:
                break
            time.sleep(0.5)
        assert (status["seen"], status["sampled"], status["replayed"], status["dropped_by_rate_cap"]) == (3, 3, 2, 1)
        stopped = c.delete(f"/replay/shadow/{run_id}")
        assert stopped.status_code == 200
        reports = c.get(f"/replay/runs/{run_id}/reports").json()["items"]
        assert c.get(f"/replay/shadow/{run_id}").json()["shadow"]["active"] is False
        assert c.delete(f"/replay/shadow/{run_id}").status_code == 404
    assert len(reports) == 1
    cand = reports[0]["variants"]["cand"]
    assert cand["ok"] == 2 and cand["vs_production"]["n"] == 2
    assert cand["vs_production"]["exact_match"] == 1.0
    assert cand["verdict"]["status"] == "pass" and reports[0]["verdict"] == "pass"
