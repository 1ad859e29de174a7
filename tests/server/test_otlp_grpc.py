"""OTLP/gRPC receiver: an unmodified OpenTelemetry SDK exporter, the logs and
metrics services, and gRPC error codes with their details."""

from __future__ import annotations

import time

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tests.otlp_builders import genai_chat, kvs, new_span_id, new_trace_id, request, span
from tests.server.test_otlp_http import flat, wait_trace


def stub(server):
    channel = grpc.insecure_channel(server.otlp_grpc, options=[("grpc.max_send_message_length", 200 * 1024 * 1024)])
    return channel, trace_service_pb2_grpc.TraceServiceStub(channel)


def test_grpc_export_partial_success(server):
    channel, ts = stub(server)
    tid = new_trace_id()
    req = request([span(attrs=genai_chat(), trace_id=tid), span(span_id=b"\x01")])
    resp = ts.Export(req, metadata=[("authorization", f"Bearer {server.key}")], timeout=30)
    assert resp.partial_success.rejected_spans == 1
    assert len(flat(wait_trace(server, tid))) == 1
    channel.close()


def test_grpc_unauthenticated(server):
    channel, ts = stub(server)
    with pytest.raises(grpc.RpcError) as ei:
        ts.Export(request([span()]), timeout=30)
    assert ei.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_grpc_resource_exhausted_above_limit(tmp_path_factory):
    from tests.conftest import start_server, stop_server

    srv = start_server(tmp_path_factory.mktemp("grpc-small"), {"LLMOBS_MAX_REQUEST_BYTES": "20000"})
    try:
        channel, ts = stub(srv)
        big = request([span(attrs=genai_chat(big="x" * 50_000))])
        with pytest.raises(grpc.RpcError) as ei:
            ts.Export(big, metadata=[("x-api-key", srv.key)], timeout=30)
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        tid = new_trace_id()
        ts.Export(request([span(attrs=genai_chat(), trace_id=tid)]), metadata=[("x-api-key", srv.key)], timeout=30)
        wait_trace(srv, tid)
        channel.close()
    finally:
        stop_server(srv)


def test_otel_sdk_app_over_grpc_shows_model_tokens_cost(server):
    """An unmodified OpenTelemetry SDK app, exporting with the stock OTLP gRPC exporter."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-app"}))
    exporter = OTLPSpanExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True, headers={"authorization": f"Bearer {server.key}"})
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("my.app")
    with tracer.start_as_current_span("handle request") as root:
        with tracer.start_as_current_span("chat claude-3-5-haiku-latest") as s:
            s.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-3-5-haiku-latest", "gen_ai.response.model": "claude-3-5-haiku-20241022",
                "gen_ai.usage.input_tokens": 2000, "gen_ai.usage.output_tokens": 500,
            })  # fmt: skip
        trace_id = root.get_span_context().trace_id
    provider.force_flush()
    provider.shutdown()
    tr = wait_trace(server, trace_id.to_bytes(16, "big"), 2)
    llm = [s for s in flat(tr) if s["span_type"] == "llm"]
    assert len(llm) == 1
    s = llm[0]
    assert s["provider"] == "anthropic" and s["model"] == "claude-3-5-haiku-20241022"
    assert s["input_tokens"] == 2000 and s["output_tokens"] == 500
    # claude 3.5 haiku: $0.80 / MTok in, $4 / MTok out
    from decimal import Decimal

    assert Decimal(s["cost_total"]) == Decimal("0.0036")
    root_span = [x for x in flat(tr) if x["name"] == "handle request"][0]
    assert root_span["span_type"] != "llm"


def test_logs_and_metrics_services(server):
    channel = grpc.insecure_channel(server.otlp_grpc)
    md = [("authorization", f"Bearer {server.key}")]
    tid, sid = new_trace_id(), new_span_id()
    logs = logs_service_pb2.ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.extend(kvs({"service.name": "events-app"}))
    sl = rl.scope_logs.add()
    rec = sl.log_records.add(time_unix_nano=time.time_ns(), trace_id=tid, span_id=sid, event_name="gen_ai.user.message")
    rec.body.kvlist_value.values.extend(kvs({"content": "hello from an event"}))
    sl.log_records.add(time_unix_nano=time.time_ns(), event_name="app.other")  # not GenAI: skipped
    logs_service_pb2_grpc.LogsServiceStub(channel).Export(logs, metadata=md, timeout=30)

    ts = trace_service_pb2_grpc.TraceServiceStub(channel)
    ts.Export(request([span(attrs=genai_chat(), trace_id=tid, span_id=sid)]), metadata=md, timeout=30)
    tr = wait_trace(server, tid)
    (s,) = flat(tr)
    assert [e["event_name"] for e in s["genai_events"]] == ["gen_ai.user.message"]
    assert "hello from an event" in s["genai_events"][0]["body"]

    metrics = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = metrics.resource_metrics.add()
    sm = rm.scope_metrics.add()
    m = sm.metrics.add(name="gen_ai.client.token.usage", unit="{token}")
    dp = m.histogram.data_points.add(time_unix_nano=time.time_ns(), count=2, sum=30.0)
    dp.bucket_counts.extend([1, 1]); dp.explicit_bounds.extend([10.0])
    dp.attributes.extend(kvs({"gen_ai.token.type": "input"}))
    sm.metrics.add(name="http.server.duration")  # not GenAI: skipped
    metrics_service_pb2_grpc.MetricsServiceStub(channel).Export(metrics, metadata=md, timeout=30)
    channel.close()
    with server.client() as c:
        points = c.get("/genai-metrics", params={"name": "gen_ai.client.token.usage"}).json()["items"]
        assert c.get("/genai-metrics", params={"name": "http.server.duration"}).json()["items"] == []
    mine = [p for p in points if p["attributes"].get("gen_ai.token.type") == "input" and p["sum"] == 30.0]
    assert mine and mine[0]["metric_type"] == "histogram" and mine[0]["count"] == 2
    assert mine[0]["bucket_counts"] == [1, 1] and mine[0]["explicit_bounds"] == [10.0]


def test_grpc_gzip_compressed_export(server):
    channel = grpc.insecure_channel(server.otlp_grpc, compression=grpc.Compression.Gzip)
    ts = trace_service_pb2_grpc.TraceServiceStub(channel)
    tid = new_trace_id()
    ts.Export(request([span(attrs=genai_chat(big="y" * 5000), trace_id=tid)]), metadata=[("x-api-key", server.key)], timeout=30)
    assert len(flat(wait_trace(server, tid))) == 1
    channel.close()
