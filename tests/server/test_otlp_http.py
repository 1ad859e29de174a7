"""OTLP/HTTP receiver against a real server process: encodings, partial
success, every documented error, and that valid data sent alongside bad data
is stored while the server stays up."""

from __future__ import annotations

import gzip
import time
from decimal import Decimal

import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.otlp_builders import genai_chat, gz, new_span_id, new_trace_id, request, span, to_otlp_json

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def post(server, body: bytes, headers: dict[str, str], path: str = "/v1/traces", key: str | None = None) -> httpx.Response:
    return httpx.post(server.otlp_http + path, content=body, headers={**headers, **server.headers(key)}, timeout=30)


def wait_trace(server, trace_id: bytes, n: int = 1, key: str | None = None) -> dict:
    deadline = time.monotonic() + 10
    with server.client(key) as c:
        while True:
            r = c.get(f"/traces/{trace_id.hex()}")
            if r.status_code == 200 and r.json()["span_count"] >= n:
                return r.json()
            if time.monotonic() > deadline:
                raise AssertionError(f"trace {trace_id.hex()} not stored: {r.status_code} {r.text}")
            time.sleep(0.1)


def flat(trace: dict) -> list[dict]:
    out, stack = [], list(trace["roots"])
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node["children"])
    return out


def test_protobuf_export_is_stored_with_canonical_fields(server):
    tid = new_trace_id()
    req = request([span(attrs=genai_chat(input_tokens=1000, output_tokens=200), trace_id=tid)], service="svc-pb")
    r = post(server, req.SerializeToString(), PB)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-protobuf")
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 0
    (s,) = flat(wait_trace(server, tid))
    assert s["service_name"] == "svc-pb"
    assert s["span_type"] == "llm" and s["model"] == "gpt-4o" and s["provider"] == "openai"
    assert s["input_tokens"] == 1000 and s["output_tokens"] == 200
    # gpt-4o: $2.50 / MTok input, $10 / MTok output
    assert Decimal(s["cost_total"]) == Decimal("0.0045")


@pytest.mark.parametrize("snake", [False, True])
def test_json_export_hex_ids_and_both_key_styles(server, snake):
    tid = new_trace_id()
    req = request([span(attrs=genai_chat(input_tokens=7, output_tokens=3), trace_id=tid)])
    body = to_otlp_json(req, snake_case=snake)
    assert tid.hex().encode() in body  # ids travel as hex
    r = post(server, body, JS)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    (s,) = flat(wait_trace(server, tid))
    assert s["span_id"] == req.resource_spans[0].scope_spans[0].spans[0].span_id.hex()
    assert s["input_tokens"] == 7


def test_json_int64_as_strings(server):
    tid = new_trace_id()
    doc = orjson.loads(to_otlp_json(request([span(attrs=genai_chat(input_tokens=5), trace_id=tid)])))
    sp = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert isinstance(sp["startTimeUnixNano"], str)  # the mapping writes 64-bit ints as strings
    for a in sp["attributes"]:
        if a["key"] == "gen_ai.usage.input_tokens":
            assert a["value"] == {"intValue": "5"}
    assert post(server, orjson.dumps(doc), JS).status_code == 200
    assert flat(wait_trace(server, tid))[0]["input_tokens"] == 5


def test_gzip_request(server):
    tid = new_trace_id()
    body = gz(request([span(attrs=genai_chat(), trace_id=tid)]).SerializeToString())
    r = post(server, body, {**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    wait_trace(server, tid)


def test_partial_success_keeps_valid_spans(server):
    tid = new_trace_id()
    good = [span(attrs=genai_chat(), trace_id=tid) for _ in range(3)]
    bad = [
        span(trace_id=b"\x01" * 8),  # wrong-length trace id
        span(span_id=b""),  # missing span id
        span(trace_id=bytes(16)),  # all-zero trace id
        span(parent=b"\x02" * 5),  # wrong-length parent
    ]
    r = post(server, request(good + bad).SerializeToString(), PB)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 4
    assert "trace_id" in resp.partial_success.error_message
    assert len(flat(wait_trace(server, tid, 3))) == 3


def test_partial_success_json_response(server):
    tid = new_trace_id()
    doc = orjson.loads(to_otlp_json(request([span(attrs=genai_chat(), trace_id=tid), span(trace_id=tid)])))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["spanId"] = "zz-not-hex"
    r = post(server, orjson.dumps(doc), JS)
    assert r.status_code == 200
    body = r.json()
    assert body["partialSuccess"]["rejectedSpans"] == "1"
    assert body["partialSuccess"]["errorMessage"]
    wait_trace(server, tid)


def _status(r: httpx.Response) -> status_pb2.Status:
    if r.headers["content-type"].startswith("application/json"):
        d = r.json()
        return status_pb2.Status(code=d.get("code", 0), message=d.get("message", ""))
    return status_pb2.Status.FromString(r.content)


def test_truncated_protobuf_is_400_with_status(server):
    body = request([span(attrs=genai_chat())]).SerializeToString()
    r = post(server, body[: len(body) // 2], PB)
    assert r.status_code == 400
    st = _status(r)
    assert st.code == 3 and "undecodable" in st.message


def test_invalid_json_is_400(server):
    r = post(server, b'{"resourceSpans": [', JS)
    assert r.status_code == 400
    assert "invalid JSON" in _status(r).message
    r = post(server, b'[1, 2]', JS)
    assert r.status_code == 400


def test_wrong_content_type_is_415(server):
    r = post(server, b"hello", {"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert "Content-Type" in _status(r).message


def test_oversized_body_is_413(tmp_path_factory):
    from tests.conftest import start_server, stop_server

    srv = start_server(tmp_path_factory.mktemp("small"), {"LLMOBS_MAX_REQUEST_BYTES": "20000"})
    try:
        big = request([span(attrs=genai_chat(**{"big": "x" * 30000}))]).SerializeToString()
        r = post(srv, big, PB)
        assert r.status_code == 413
        # a gzip bomb: 21 KB of gzip that inflates past the cap
        bomb = gzip.compress(b"\x00" * 5_000_000)
        r = post(srv, bomb, {**PB, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and "decompressed" in _status(r).message
        tid = new_trace_id()
        assert post(srv, request([span(attrs=genai_chat(), trace_id=tid)]).SerializeToString(), PB).status_code == 200
        wait_trace(srv, tid)
    finally:
        stop_server(srv)


def test_gzip_bomb_default_limit_rejected_and_server_survives(server):
    # 64 MiB + 1 of zeros compresses to ~65 KB; inflating stops at the cap.
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024 + 1), compresslevel=9)
    r = post(server, bomb, {**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert server.alive()


def test_invalid_utf8_span_rejected_rest_kept(server):
    tid = new_trace_id()
    good = span(name="good-span", attrs=genai_chat(), trace_id=tid)
    marker = "MARKERMARKER"
    bad = span(name=marker, trace_id=tid)
    body = request([good, bad]).SerializeToString()
    body = body.replace(marker.encode(), b"\xff\xfe" + marker[2:].encode())  # same length, invalid UTF-8
    r = post(server, body, PB)
    assert r.status_code == 200, r.text
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    spans = flat(wait_trace(server, tid))
    assert [s["name"] for s in spans] == ["good-span"]


def test_every_anyvalue_kind_round_trips(server):
    tid = new_trace_id()
    attrs = {
        "s": "text", "i": -42, "d": 1.5, "b": True, "bytes": b"\x00\x01",
        "arr": ["a", 1, 2.5, False], "kv": {"inner": {"deep": [1, 2]}}, "empty": "",
        **genai_chat(),
    }  # fmt: skip
    assert post(server, request([span(attrs=attrs, trace_id=tid)]).SerializeToString(), PB).status_code == 200
    (s,) = flat(wait_trace(server, tid))
    a = s["span_attributes"]
    assert a["s"] == "text" and a["i"] == "-42" and a["d"] == "1.5" and a["b"] == "true"
    assert a["bytes"] == "AAE="
    assert orjson.loads(a["arr"]) == ["a", 1, 2.5, False]
    assert orjson.loads(a["kv"]) == {"inner": {"deep": [1, 2]}}


def test_span_with_10000_attributes(server):
    tid = new_trace_id()
    attrs = {f"attr.{i}": f"value-{i}" for i in range(10_000)}
    attrs.update(genai_chat())
    assert post(server, request([span(attrs=attrs, trace_id=tid)]).SerializeToString(), PB).status_code == 200
    (s,) = flat(wait_trace(server, tid))
    assert len(s["span_attributes"]) == 10_000 + len(genai_chat())
    assert s["span_attributes"]["attr.9999"] == "value-9999"


def test_missing_or_wrong_key_is_401(server):
    body = request([span(attrs=genai_chat())]).SerializeToString()
    r = httpx.post(server.otlp_http + "/v1/traces", content=body, headers=PB)
    assert r.status_code == 401
    r = httpx.post(
        server.otlp_http + "/v1/traces", content=body, headers={**PB, "x-api-key": "llmobs_default_nope"}
    )
    assert r.status_code == 401


def test_x_api_key_header_works(server):
    tid = new_trace_id()
    body = request([span(attrs=genai_chat(), trace_id=tid)]).SerializeToString()
    r = httpx.post(server.otlp_http + "/v1/traces", content=body, headers={**PB, "x-api-key": server.key})
    assert r.status_code == 200
    wait_trace(server, tid)


def test_retried_export_never_double_counts(server):
    tid = new_trace_id()
    model = f"gpt-4o-mini"
    spans = [span(attrs=genai_chat(model=model, input_tokens=1000, output_tokens=100, **{"retry.test": tid.hex()}), trace_id=tid) for _ in range(5)]
    body = request(spans).SerializeToString()
    for _ in range(3):  # the exporter retries the same export
        assert post(server, body, PB).status_code == 200
    time.sleep(0.2)
    with server.client() as c:
        r = c.get("/usage", params={"attr": f"retry.test={tid.hex()}", "bucket": "day"})
        items = r.json()["items"]
    assert sum(i["requests"] for i in items) == 5
    assert sum(i["input_tokens"] for i in items) == 5000
    # gpt-4o-mini: $0.15 in / $0.60 out per MTok -> 5 * (0.00015 + 0.00006)
    assert sum(Decimal(i["cost_total"]) for i in items) == Decimal("0.00105")
    assert len(flat(wait_trace(server, tid, 5))) == 5


def test_server_still_up_after_bad_input(server):
    assert server.alive()
    assert httpx.get(server.api + "/healthz").json() == {"status": "ok"}
