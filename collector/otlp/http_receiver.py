"""OTLP/HTTP receiver: POST /v1/traces, /v1/logs, /v1/metrics.

Protobuf or JSON in, the same encoding out; gzip accepted.  Errors follow
the OTLP spec: 400 + google.rpc.Status for an undecodable body, 413 above the
size cap, 415 for an unknown media type, 503 + Retry-After when the write
queue is full, 200 with partial_success when some spans were rejected.
"""

from __future__ import annotations

import logging
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from collector.auth import Authenticator, key_from_headers
from collector.ingest import Ingestor
from collector.otlp import decode, errors
from collector.otlp.status import status_json, status_message

log = logging.getLogger(__name__)


def _encode(msg: Message, mtype: str) -> Response:
    if mtype == decode.JSON:
        body = json_format.MessageToJson(msg, indent=None).encode()
        return Response(body, media_type=decode.JSON)
    return Response(msg.SerializeToString(), media_type=decode.PROTOBUF)


def _error(err: errors.IngestError, mtype: str) -> Response:
    headers = {}
    if err.retry_after_seconds is not None:
        headers["Retry-After"] = str(err.retry_after_seconds)
    if mtype == decode.JSON:
        return Response(status_json(err), status_code=err.http_status, media_type=decode.JSON, headers=headers)
    return Response(
        status_message(err).SerializeToString(),
        status_code=err.http_status,
        media_type=decode.PROTOBUF,
        headers=headers,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.too_large(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.too_large(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def build_otlp_http_app(ingestor: Ingestor, auth: Authenticator, max_request_bytes: int) -> Starlette:
    async def handle(request: Request, signal: str, response_cls: type[Message]) -> Response:
        ctype = request.headers.get("content-type", "")
        fallback = decode.JSON if "json" in ctype.lower() else decode.PROTOBUF
        try:
            mtype = decode.media_type(ctype)
        except errors.IngestError as err:
            return _error(err, fallback)
        try:
            project = await auth.project_for(key_from_headers(request.headers))
            if project is None:
                raise errors.unauthenticated("missing or invalid API key: send 'Authorization: Bearer <key>' or 'x-api-key'")
            raw = await _read_body(request, max_request_bytes)
            outcome = await ingestor.export(signal, raw, request.headers.get("content-encoding"), mtype, project)
        except errors.IngestError as err:
            if err.http_status >= 500:
                log.warning("OTLP/HTTP %s: %s", request.url.path, err)
            return _error(err, mtype)
        except ClientDisconnect:
            return Response(status_code=499)
        return _encode(outcome.response(response_cls), mtype)

    async def traces(request: Request) -> Response:
        return await handle(request, "traces", ExportTraceServiceResponse)

    async def logs(request: Request) -> Response:
        return await handle(request, "logs", ExportLogsServiceResponse)

    async def metrics(request: Request) -> Response:
        return await handle(request, "metrics", ExportMetricsServiceResponse)

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/v1/logs", logs, methods=["POST"]),
            Route("/v1/metrics", metrics, methods=["POST"]),
        ]
    )
