"""Real instrumentation output (tests/fixtures/otlp, captured from the real
packages) sent through the real OTLP/HTTP receiver as OTLP/JSON, then read back
through the API: the canonical record comes out right end to end."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from tests.server.test_otlp_http import flat, wait_trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
TIME_KEYS = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano")


def load(source: str, name: str, now_ns: int) -> dict:
    """A captured export, its timestamps moved so the capture 'happened' just now."""
    doc = orjson.loads((FIXTURES / source / name).read_bytes())
    stamps: list[int] = []

    def walk(node, fn):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in TIME_KEYS and isinstance(v, (str, int)) and int(v) > 0:
                    node[k] = fn(int(v))
                else:
                    walk(v, fn)
        elif isinstance(node, list):
            for x in node:
                walk(x, fn)

    walk(doc, lambda v: stamps.append(v) or v)
    shift = now_ns - max(stamps) if stamps else 0
    walk(doc, lambda v: str(v + shift))
    return doc


def post(server, doc: dict, signal: str = "traces") -> httpx.Response:
    r = httpx.post(
        f"{server.otlp_http}/v1/{signal}",
        content=orjson.dumps(doc),
        headers={"Content-Type": "application/json", **server.headers()},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r


def trace_ids(doc: dict) -> list[bytes]:
    ids = {sp["traceId"] for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]}
    return [bytes.fromhex(t) for t in sorted(ids)]


def send_trace(server, source: str, n: int) -> list[dict]:
    doc = load(source, f"traces-{n:03d}.json", time.time_ns())
    post(server, doc)
    (tid,) = trace_ids(doc)
    return flat(wait_trace(server, tid, sum(len(ss["spans"]) for rs in doc["resourceSpans"] for ss in rs["scopeSpans"])))


def llm_spans(spans: list[dict]) -> list[dict]:
    return [s for s in spans if s["span_type"] == "llm" and s["counts_usage"]]


@pytest.mark.parametrize(
    "source", ["openai_v2_latest", "openllmetry", "openinference", "openlit", "pydantic_ai", "vercel_ai", "langsmith"]
)
def test_plain_chat_canonical_record(server, source):
    if not (FIXTURES / source / "traces-001.json").exists():
        pytest.skip(f"no capture for {source}")
    spans = send_trace(server, source, 1)
    (s,) = llm_spans(spans)  # counted once even when several layers trace it
    assert s["model"].startswith("gpt-4o-mini")
    assert s["provider"] == "openai"
    assert s["input_tokens"] == 28 and s["output_tokens"] == 16, s
    assert "Paris" in orjson.dumps(s["output_messages"]).decode() or s["output_messages"] == []
    assert any(
        p.get("type") == "text" and "capital of France" in p.get("content", "")
        for m in s["input_messages"]
        for p in m["parts"]
    ), s["input_messages"]
    assert s["cost_total"] is not None and Decimal(s["cost_total"]) > 0


@pytest.mark.parametrize("logs_first", [True, False])
def test_log_events_join_their_span_whichever_arrives_first(server, logs_first):
    now = time.time_ns()
    traces = load("openai_v2_events", "traces-003.json", now)
    logs = load("openai_v2_events", "logs-003.json", now)
    # each parametrisation gets its own ids so the two runs do not share rows
    salt = "a" if logs_first else "b"
    text = orjson.dumps(traces).decode()
    (tid,) = trace_ids(traces)
    new_tid = salt * 4 + tid.hex()[4:]
    traces = orjson.loads(text.replace(tid.hex(), new_tid))
    logs = orjson.loads(orjson.dumps(logs).decode().replace(tid.hex(), new_tid))
    for doc, signal in ((logs, "logs"), (traces, "traces")) if logs_first else ((traces, "traces"), (logs, "logs")):
        post(server, doc, signal)
    time.sleep(0.3)
    spans = flat(wait_trace(server, bytes.fromhex(new_tid), 2))
    chats = [s for s in spans if s["span_type"] == "llm"]
    assert chats, spans
    joined = [s for s in chats if s["input_messages"]]
    assert joined, "log events were not joined to their span"
    roles = {m["role"] for s in joined for m in s["input_messages"]}
    assert "user" in roles
    assert any(s["system_instructions"] for s in joined)
    assert any(s["output_messages"] for s in chats)


def _post_file(server, source: str, name: str, now: int) -> dict:
    doc = load(source, name, now)
    post(server, doc)
    return doc


def test_vllm_server_span_under_real_client_span_counts_once(server):
    """Real vLLM `llm_request` spans with the real openai-v2 client span above
    them: one LLM call, the client's, with its model name."""
    now = time.time_ns()
    server_doc = _post_file(server, "vllm", "traces-001.json", now)
    client_doc = _post_file(server, "vllm", "client-001.json", now)
    (tid,) = trace_ids(server_doc)
    assert trace_ids(client_doc) == [tid]
    deadline = time.monotonic() + 10
    while True:
        spans = flat(wait_trace(server, tid, 2))
        counted = llm_spans(spans)
        if len(counted) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    (s,) = counted
    assert s["dialect"] != "vllm" and s["model"] == "smollm2"
    vllm = [x for x in spans if x["dialect"] == "vllm"]
    assert len(vllm) == 1 and vllm[0]["counts_usage"] == 0
    assert vllm[0]["ttft_ns"] == pytest.approx(0.056e9, rel=0.2)


def test_vllm_lone_server_span_and_startup_spans(server):
    now = time.time_ns()
    doc = _post_file(server, "vllm", "traces-003.json", now)
    (tid,) = trace_ids(doc)
    (s,) = flat(wait_trace(server, tid))
    assert s["dialect"] == "vllm" and s["provider"] == "vllm" and s["span_type"] == "llm" and s["counts_usage"] == 1
    assert s["input_tokens"] > 0 and s["output_tokens"] == 16
    assert s["cost_total"] is None and s["price_status"] == "unknown_model"  # self-hosted: needs a GPU-hour price
    startup = _post_file(server, "vllm", "startup-001.json", now)
    for tid in trace_ids(startup):
        for sp in flat(wait_trace(server, tid)):
            assert sp["span_type"] != "llm"
