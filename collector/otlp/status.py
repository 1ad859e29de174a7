"""google.rpc.Status bodies and gRPC error details for OTLP answers."""

from __future__ import annotations

from google.protobuf import any_pb2, duration_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

from collector.otlp.errors import IngestError


def status_message(err: IngestError) -> status_pb2.Status:
    st = status_pb2.Status(code=err.grpc_code.value[0], message=err.message)
    if err.retry_after_seconds is not None:
        info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=err.retry_after_seconds))
        detail = any_pb2.Any()
        detail.Pack(info)
        st.details.append(detail)
    return st


def status_json(err: IngestError) -> bytes:
    return json_format.MessageToJson(status_message(err), indent=None).encode()
