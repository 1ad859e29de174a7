"""OTLP/gRPC receiver: TraceService, LogsService, MetricsService on grpc.aio.

The same `Ingestor` as HTTP; errors carry google.rpc.Status details
(RetryInfo on UNAVAILABLE) in `grpc-status-details-bin`, as OTLP exporters
expect for backoff.
"""

from __future__ import annotations

import logging

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from collector.auth import Authenticator, key_from_headers
from collector.ingest import Ingestor
from collector.otlp import errors
from collector.otlp.status import status_message

log = logging.getLogger(__name__)


async def _project(context: grpc.aio.ServicerContext, auth: Authenticator) -> str:
    md = {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    project = await auth.project_for(key_from_headers(md))
    if project is None:
        raise errors.unauthenticated("missing or invalid API key: send 'authorization: Bearer <key>' or 'x-api-key' metadata")
    return project


async def _abort(context: grpc.aio.ServicerContext, err: errors.IngestError) -> None:
    details = status_message(err).SerializeToString()
    await context.abort(err.grpc_code, err.message, trailing_metadata=(("grpc-status-details-bin", details),))


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingestor: Ingestor, auth: Authenticator) -> None:
        self._ingestor = ingestor
        self._auth = auth

    async def Export(self, request, context):  # noqa: N802 - gRPC method name
        try:
            outcome = await self._ingestor.traces(request, await _project(context, self._auth))
        except errors.IngestError as err:
            await _abort(context, err)
            raise  # unreachable: abort raises
        resp = trace_service_pb2.ExportTraceServiceResponse()
        if outcome.rejected or outcome.message:
            resp.partial_success.rejected_spans = outcome.rejected
            resp.partial_success.error_message = outcome.message
        return resp


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, ingestor: Ingestor, auth: Authenticator) -> None:
        self._ingestor = ingestor
        self._auth = auth

    async def Export(self, request, context):  # noqa: N802
        try:
            await self._ingestor.logs(request, await _project(context, self._auth))
        except errors.IngestError as err:
            await _abort(context, err)
            raise
        return logs_service_pb2.ExportLogsServiceResponse()


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, ingestor: Ingestor, auth: Authenticator) -> None:
        self._ingestor = ingestor
        self._auth = auth

    async def Export(self, request, context):  # noqa: N802
        try:
            await self._ingestor.metrics(request, await _project(context, self._auth))
        except errors.IngestError as err:
            await _abort(context, err)
            raise
        return metrics_service_pb2.ExportMetricsServiceResponse()


def build_grpc_server(ingestor: Ingestor, auth: Authenticator, address: str, max_request_bytes: int) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(ingestor, auth), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(ingestor, auth), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(ingestor, auth), server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {address}")
    return server
