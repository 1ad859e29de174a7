"""Each LLM call is counted once when several layers trace it, also when the
layers arrive in different exports (children end, and are exported, first)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from collector.normalize.layers import Node, not_counted
from tests.otlp_builders import genai_chat, new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import PB, flat, post, wait_trace


def test_rule_inner_client_span_counts():
    # framework llm -> chain -> sdk llm -> http -> vllm server llm
    nodes = [
        Node("t", "fw", "", True, False),
        Node("t", "chain", "fw", False, False),
        Node("t", "sdk", "chain", True, False),
        Node("t", "http", "sdk", False, False),
        Node("t", "vllm", "http", True, True),
        Node("t", "lonely-server", "", True, True),  # a server span with no client span above
    ]
    assert not_counted(nodes) == {("t", "fw"), ("t", "vllm")}


def _usage(server, tag):
    with server.client() as c:
        items = c.get("/usage", params={"attr": f"layer.tag={tag}", "bucket": "day"}).json()["items"]
    return sum(i["requests"] for i in items), sum(i["input_tokens"] for i in items), sum(Decimal(i["cost_total"] or 0) for i in items)


def _wait_counts(server, tag, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = _usage(server, tag)
        if got[:2] == want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


@pytest.mark.parametrize("child_first", [True, False])
def test_wrapper_and_sdk_span_in_different_exports(server, child_first):
    tag = f"layers-{time.time_ns()}"
    tid, fw, sdk = new_trace_id(), new_span_id(), new_span_id()
    t0 = time.time_ns() - 10**9
    wrapper = span("ChatOpenAI", {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.provider": "openai",
                                   "llm.token_count.prompt": 1000, "llm.token_count.completion": 100, "layer.tag": tag},
                   trace_id=tid, span_id=fw, start_ns=t0, duration_ms=900, kind=1)  # fmt: skip
    inner = span("chat gpt-4o", genai_chat("gpt-4o", input_tokens=1000, output_tokens=100, **{"layer.tag": tag}),
                 trace_id=tid, span_id=sdk, parent=fw, start_ns=t0 + 10**6, duration_ms=800)  # fmt: skip
    first, second = (inner, wrapper) if child_first else (wrapper, inner)
    assert post(server, request([first]).SerializeToString(), PB).status_code == 200
    assert post(server, request([second]).SerializeToString(), PB).status_code == 200
    wait_trace(server, tid, 2)
    got = _wait_counts(server, tag, (1, 1000))
    assert got == (1, 1000, Decimal("0.0035")), got
    spans = {s["span_id"]: s for s in flat(wait_trace(server, tid, 2))}
    assert spans[sdk.hex()]["counts_usage"] == 1 and spans[fw.hex()]["counts_usage"] == 0


def test_vllm_server_span_under_client_span_not_counted(server):
    tag = f"layers-vllm-{time.time_ns()}"
    tid, client_id, http_id = new_trace_id(), new_span_id(), new_span_id()
    t0 = time.time_ns() - 10**9
    client = span("chat smollm2", genai_chat("smollm2", "vllm", input_tokens=27, output_tokens=8, **{"layer.tag": tag}),
                  trace_id=tid, span_id=client_id, start_ns=t0, duration_ms=500)  # fmt: skip
    http = span("POST", {"http.request.method": "POST"}, trace_id=tid, span_id=http_id, parent=client_id, start_ns=t0 + 10**6, duration_ms=480)
    server_span = span("llm_request", {"gen_ai.usage.prompt_tokens": 27, "gen_ai.usage.completion_tokens": 8,
                                       "gen_ai.request.id": "chatcmpl-1", "gen_ai.latency.time_to_first_token": 0.05,
                                       "layer.tag": tag},
                       trace_id=tid, parent=http_id, start_ns=t0 + 2 * 10**6, duration_ms=450, kind=2)  # fmt: skip
    # the model server exports on its own, before the client's spans
    assert post(server, request([server_span], service="vllm").SerializeToString(), PB).status_code == 200
    assert post(server, request([client, http], service="app").SerializeToString(), PB).status_code == 200
    wait_trace(server, tid, 3)
    assert _wait_counts(server, tag, (1, 27))[:2] == (1, 27)
