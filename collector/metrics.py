"""Prometheus metrics of the server itself (a registry per server, no globals)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from collector.genai_metrics import GenAIMetrics


class ServerMetrics:
    def __init__(self, label_cap: int = 50) -> None:
        self.registry = CollectorRegistry()
        self.genai = GenAIMetrics(self.registry, label_cap)
        self.spans_received = Counter("llmobs_spans_received", "Spans received over OTLP", registry=self.registry)
        self.spans_stored = Counter("llmobs_spans_stored", "Spans written to ClickHouse", registry=self.registry)
        self.spans_rejected = Counter("llmobs_spans_rejected", "Spans rejected as invalid", registry=self.registry)
        self.write_latency = Histogram(
            "llmobs_write_latency_seconds",
            "Duration of one ClickHouse insert",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.queue_depth = Gauge("llmobs_write_queue_rows", "Rows waiting for the spans writer", registry=self.registry)

    def bind_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(depth)

    def observe_insert(self, rows: int, seconds: float) -> None:
        self.spans_stored.inc(rows)
        self.write_latency.observe(seconds)

    def observe_export(self, accepted: int, rejected: int) -> None:
        self.spans_received.inc(accepted + rejected)
        self.spans_rejected.inc(rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)
