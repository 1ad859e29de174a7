"""Backpressure with a tiny write queue (HTTP 503 + Retry-After, gRPC
UNAVAILABLE + RetryInfo, nothing acknowledged is lost), the server on the real
PostgreSQL, and auth switched off for local use."""

from __future__ import annotations

import concurrent.futures as cf
import time

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tests.conftest import start_server, stop_server
from tests.otlp_builders import genai_chat, new_trace_id, request, span
from tests.server.test_otlp_http import PB, wait_trace


@pytest.fixture(scope="module")
def tiny_queue(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("tiny"),
        {"LLMOBS_MAX_QUEUED_ROWS": "50", "LLMOBS_WRITER_LINGER_SECONDS": "0.3", "LLMOBS_RETRY_AFTER_SECONDS": "3"},
    )
    yield srv
    stop_server(srv)


def test_http_503_with_retry_after_and_acked_spans_are_stored(tiny_queue):
    srv = tiny_queue
    tag = f"bp-{time.time_ns()}"
    bodies = [request([span(attrs=genai_chat(**{"bp": tag}), trace_id=new_trace_id()) for _ in range(40)]).SerializeToString() for _ in range(12)]

    def send(body: bytes) -> httpx.Response:
        return httpx.post(srv.otlp_http + "/v1/traces", content=body, headers={**PB, **srv.headers()}, timeout=30)

    with cf.ThreadPoolExecutor(12) as ex:
        responses = list(ex.map(send, bodies))
    codes = [r.status_code for r in responses]
    assert 503 in codes and 200 in codes, codes
    for r in responses:
        if r.status_code == 503:
            assert r.headers["Retry-After"] == "3"
            st = status_pb2.Status.FromString(r.content)
            assert st.code == 14 and "retry later" in st.message
    acked = 40 * codes.count(200)
    with srv.client() as c:
        deadline = time.monotonic() + 10
        while True:
            n = sum(i["requests"] for i in c.get("/usage", params={"attr": f"bp={tag}", "bucket": "day"}).json()["items"])
            if n == acked or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert n == acked  # every acknowledged span is stored, nothing else
    assert srv.alive()


def test_grpc_unavailable_with_retry_info(tiny_queue):
    srv = tiny_queue
    channel = grpc.insecure_channel(srv.otlp_grpc)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    reqs = [request([span(attrs=genai_chat()) for _ in range(40)]) for _ in range(12)]

    def send(req):
        try:
            stub.Export(req, metadata=[("x-api-key", srv.key)], timeout=30)
            return None
        except grpc.RpcError as exc:
            return exc

    with cf.ThreadPoolExecutor(12) as ex:
        errs = [e for e in ex.map(send, reqs) if e is not None]
    assert errs, "expected some exports to be pushed back"
    for e in errs:
        assert e.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(e.trailing_metadata())["grpc-status-details-bin"]
        st = status_pb2.Status.FromString(details)
        info = error_details_pb2.RetryInfo()
        assert st.details[0].Unpack(info) and info.retry_delay.seconds == 3
    channel.close()


def test_server_on_real_postgres(tmp_path_factory, pg_database):
    srv = start_server(tmp_path_factory.mktemp("pg"), {"LLMOBS_DATABASE_URL": pg_database})
    try:
        assert srv.key and srv.key.startswith("llmobs_default_")
        tid = new_trace_id()
        r = httpx.post(srv.otlp_http + "/v1/traces", content=request([span(attrs=genai_chat(), trace_id=tid)]).SerializeToString(),
                       headers={**PB, **srv.headers()})  # fmt: skip
        assert r.status_code == 200
        wait_trace(srv, tid)
        with srv.client() as c:
            assert c.post("/prices", json={"model_pattern": "x.*", "input_per_mtok": "1", "output_per_mtok": "1"}).status_code == 201
            assert len(c.get("/prices").json()["items"]) == 1
    finally:
        stop_server(srv)
    # a restart on the same databases keeps the key and the data
    srv = start_server(srv.data_dir, {"LLMOBS_DATABASE_URL": pg_database})
    try:
        wait_trace(srv, tid)
    finally:
        stop_server(srv)


def test_auth_disabled_acts_on_default_project(tmp_path_factory):
    # also the in-process ingest path (no worker processes), for small machines
    srv = start_server(tmp_path_factory.mktemp("noauth"), {"LLMOBS_AUTH_DISABLED": "true", "LLMOBS_INGEST_WORKERS": "0"})
    try:
        tid = new_trace_id()
        r = httpx.post(srv.otlp_http + "/v1/traces", content=request([span(attrs=genai_chat(), trace_id=tid)]).SerializeToString(), headers=PB)
        assert r.status_code == 200
        srv.key = None
        wait_trace(srv, tid)
    finally:
        stop_server(srv)


def test_killed_ingest_worker_is_replaced(tmp_path_factory):
    """A worker that dies (OOM killer, native crash) costs one retryable
    export, not the server: new workers take over."""
    import os
    import signal

    from pathlib import Path

    srv = start_server(tmp_path_factory.mktemp("workers"), {"LLMOBS_INGEST_WORKERS": "1"})
    try:
        children = [int(c) for t in Path(f"/proc/{srv.proc.pid}/task").iterdir() for c in (t / "children").read_text().split()]
        workers = [p for p in children if b"spawn_main" in open(f"/proc/{p}/cmdline", "rb").read()]
        assert workers, children
        os.kill(workers[0], signal.SIGKILL)
        time.sleep(0.5)
        body = request([span(attrs=genai_chat())]).SerializeToString()
        codes = []
        for _ in range(20):
            r = httpx.post(srv.otlp_http + "/v1/traces", content=body, headers={**PB, **srv.headers()}, timeout=60)
            codes.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503 and r.headers.get("Retry-After")
            time.sleep(0.5)
        assert codes[-1] == 200, codes
        tid = new_trace_id()
        r = httpx.post(srv.otlp_http + "/v1/traces", content=request([span(attrs=genai_chat(), trace_id=tid)]).SerializeToString(),
                       headers={**PB, **srv.headers()}, timeout=60)  # fmt: skip
        assert r.status_code == 200
        wait_trace(srv, tid)
    finally:
        stop_server(srv)


def test_acknowledged_spans_survive_kill_9(tmp_path_factory):
    """Every export the server acknowledged is there after a kill -9 and a
    restart on the same data directory."""
    import signal

    data = tmp_path_factory.mktemp("kill9")
    srv = start_server(data)
    tag = f"k9-{time.time_ns()}"
    acked = 0

    import threading

    first_ack = threading.Event()

    def send(i: int) -> int:
        body = request([span(attrs=genai_chat(**{"k9": tag})) for _ in range(50)]).SerializeToString()
        r = httpx.post(srv.otlp_http + "/v1/traces", content=body, headers={**PB, **srv.headers()}, timeout=30)
        if r.status_code == 200:
            first_ack.set()
            return 50
        return 0

    from pathlib import Path

    workers = [int(c) for t in Path(f"/proc/{srv.proc.pid}/task").iterdir() for c in (t / "children").read_text().split()]
    try:
        with cf.ThreadPoolExecutor(4) as ex:
            futures = [ex.submit(send, i) for i in range(40)]
            assert first_ack.wait(60), "no export acknowledged"
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGKILL)  # mid-stream, while exports are in flight
            for f in futures:
                try:
                    acked += f.result()
                except httpx.HTTPError:
                    pass  # not acknowledged: the exporter would retry it
        srv.proc.wait(10)
    finally:
        stop_server(srv)
    assert acked > 0
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{p}").exists() for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if Path(f"/proc/{p}").exists()], "ingest workers outlived their server"
    srv = start_server(data)
    try:
        with srv.client() as c:
            n = sum(i["requests"] for i in c.get("/usage", params={"attr": f"k9={tag}", "bucket": "day"}).json()["items"])
        assert n >= acked  # an unacknowledged export may have been written too, never the reverse
    finally:
        stop_server(srv)


def test_bytes_in_flight_are_capped(tmp_path_factory):
    """Memory stays bounded before the write queue too: exports beyond the
    in-flight byte cap are refused at once with a retry delay."""
    srv = start_server(tmp_path_factory.mktemp("inflight"), {"LLMOBS_MAX_INFLIGHT_BYTES": "300000"})
    try:
        bodies = [request([span(attrs=genai_chat(pad="p" * 2000)) for _ in range(100)]).SerializeToString() for _ in range(16)]
        assert all(len(b) > 200_000 for b in bodies)

        def send(body: bytes) -> httpx.Response:
            return httpx.post(srv.otlp_http + "/v1/traces", content=body, headers={**PB, **srv.headers()}, timeout=60)

        with cf.ThreadPoolExecutor(16) as ex:
            codes = [r.status_code for r in ex.map(send, bodies)]
        assert 200 in codes and 503 in codes, codes
        assert srv.alive()
    finally:
        stop_server(srv)
