"""PII redaction at ingest, end to end through a real server (LLMOBS_REDACT_PII=true)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from collector.redact import Redactor
from tests.conftest import start_server, stop_server
from tests.otlp_builders import genai_chat, new_trace_id, request, span

EMAIL, PHONE, CARD = "dana.whitfield@example.com", "+1 415-555-2671", "4111 1111 1111 1111"
PROMPT = f"I'm Dana Whitfield, email {EMAIL}, phone {PHONE}. Charge card {CARD}."
ANSWER = f"Done, Dana Whitfield: card {CARD} charged; receipt sent to {EMAIL}."
PB = {"content-type": "application/x-protobuf"}


def chat_span(trace_id: bytes):
    messages_in = json.dumps([{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}])
    messages_out = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}])
    return span(attrs=genai_chat(**{"gen_ai.input.messages": messages_in, "gen_ai.output.messages": messages_out,
                                    "app.note": f"customer {EMAIL}"}), trace_id=trace_id)


def fetch(srv, trace_id: bytes) -> dict:
    deadline = time.monotonic() + 20
    with srv.client() as c:
        while True:
            r = c.get(f"/traces/{trace_id.hex()}")
            if r.status_code == 200 and r.json()["span_count"] >= 1:
                return r.json()
            assert time.monotonic() < deadline, f"trace not stored: {r.status_code} {r.text}"
            time.sleep(0.2)


@pytest.mark.parametrize("workers", ["0", "1"])  # in the server process, and in an ingest worker process
def test_only_masked_text_is_stored(tmp_path_factory, workers) -> None:
    srv = start_server(tmp_path_factory.mktemp("redact"), {"LLMOBS_REDACT_PII": "true", "LLMOBS_INGEST_WORKERS": workers},
                       timeout=240)
    try:
        tid = new_trace_id()
        r = httpx.post(srv.otlp_http + "/v1/traces", content=request([chat_span(tid)]).SerializeToString(),
                       headers={**PB, **srv.headers()}, timeout=120)
        assert r.status_code == 200, r.text
        stored = json.dumps(fetch(srv, tid))
        for secret in (EMAIL, PHONE, CARD, "Whitfield", "4111"):
            assert secret not in stored, secret
        assert "<EMAIL_ADDRESS>" in stored and "<CREDIT_CARD>" in stored and "<PHONE_NUMBER>" in stored
        assert "<PERSON>" in stored and "Charge card" in stored  # the rest of the text is kept
    finally:
        stop_server(srv)


def test_redaction_is_off_by_default(server) -> None:
    tid = new_trace_id()
    r = httpx.post(server.otlp_http + "/v1/traces", content=request([chat_span(tid)]).SerializeToString(),
                   headers={**PB, **server.headers()})
    assert r.status_code == 200
    assert EMAIL in json.dumps(fetch(server, tid))


def test_redactor_masks_texts() -> None:
    redactor = Redactor(entities=["EMAIL_ADDRESS", "US_SSN"])
    assert redactor.redact_texts([f"mail {EMAIL} ssn 536-22-8714", "nothing", ""]) == [
        "mail <EMAIL_ADDRESS> ssn <US_SSN>", "nothing", ""]
