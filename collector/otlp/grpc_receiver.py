"""OTLP/gRPC receiver: TraceService, LogsService, MetricsService on grpc.aio.

Requests are registered with no deserializer: the raw bytes go to the same
`Ingestor` as HTTP, which decodes them on a worker (so one broken span is
salvaged the same way on both transports).  Errors carry google.rpc.Status
details (RetryInfo on UNAVAILABLE) in `grpc-status-details-bin`, as OTLP
exporters expect for backoff.  gRPC enforces the size cap itself
(RESOURCE_EXHAUSTED), on the decompressed message too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.auth import Authenticator, key_from_headers
from collector.ingest import Ingestor
from collector.otlp import decode, errors
from collector.otlp.status import status_message

log = logging.getLogger(__name__)

SERVICES = {
    "traces": ("opentelemetry.proto.collector.trace.v1.TraceService", ExportTraceServiceResponse),
    "logs": ("opentelemetry.proto.collector.logs.v1.LogsService", ExportLogsServiceResponse),
    "metrics": ("opentelemetry.proto.collector.metrics.v1.MetricsService", ExportMetricsServiceResponse),
}


async def _project(context: grpc.aio.ServicerContext, auth: Authenticator) -> str:
    md = {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    project = await auth.project_for(key_from_headers(md))
    if project is None:
        raise errors.unauthenticated("missing or invalid API key: send 'authorization: Bearer <key>' or 'x-api-key' metadata")
    return project


def _export_handler(signal: str, response_cls: type[Message], ingestor: Ingestor, auth: Authenticator) -> Callable:
    async def export(request: bytes, context: grpc.aio.ServicerContext) -> Message:
        try:
            outcome = await ingestor.export(signal, request, None, decode.PROTOBUF, await _project(context, auth))
        except errors.IngestError as err:
            if err.http_status >= 500:
                log.warning("OTLP/gRPC %s: %s", signal, err)
            details = status_message(err).SerializeToString()
            await context.abort(err.grpc_code, err.message, trailing_metadata=(("grpc-status-details-bin", details),))
            raise  # unreachable: abort raises
        return outcome.response(response_cls)

    return export


def build_grpc_server(ingestor: Ingestor, auth: Authenticator, address: str, max_request_bytes: int) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    handlers = []
    for signal, (service, response_cls) in SERVICES.items():
        method = grpc.unary_unary_rpc_method_handler(
            _export_handler(signal, response_cls, ingestor, auth),
            request_deserializer=None,  # raw bytes: decoded on a worker
            response_serializer=response_cls.SerializeToString,
        )
        handlers.append(grpc.method_handlers_generic_handler(service, {"Export": method}))
    server.add_generic_rpc_handlers(handlers)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {address}")
    return server
