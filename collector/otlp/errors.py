"""Ingest errors, classified once and mapped to OTLP's HTTP and gRPC answers in
one place (as the OTel Collector does): permanent errors are not retried by
exporters, retryable ones carry a Retry-After / RetryInfo delay."""

from __future__ import annotations

from dataclasses import dataclass

import grpc


@dataclass
class IngestError(Exception):
    message: str
    http_status: int
    grpc_code: grpc.StatusCode
    retry_after_seconds: int | None = None

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # dataclass exceptions do not pickle by default; workers raise these.
        return (IngestError, (self.message, self.http_status, self.grpc_code, self.retry_after_seconds))


def bad_request(message: str) -> IngestError:
    return IngestError(message, 400, grpc.StatusCode.INVALID_ARGUMENT)


def unsupported_media_type(message: str) -> IngestError:
    return IngestError(message, 415, grpc.StatusCode.INVALID_ARGUMENT)


def too_large(message: str) -> IngestError:
    return IngestError(message, 413, grpc.StatusCode.RESOURCE_EXHAUSTED)


def unauthenticated(message: str) -> IngestError:
    return IngestError(message, 401, grpc.StatusCode.UNAUTHENTICATED)


def overloaded(message: str, retry_after_seconds: int) -> IngestError:
    return IngestError(message, 503, grpc.StatusCode.UNAVAILABLE, retry_after_seconds)


def write_failed(message: str, retry_after_seconds: int) -> IngestError:
    return IngestError(message, 503, grpc.StatusCode.UNAVAILABLE, retry_after_seconds)
