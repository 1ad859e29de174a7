"""Which physical tables reads and writes go to.

Single node (chDB or one server): the MergeTree tables themselves.  Cluster:
the `*_dist` Distributed tables over the replicated local tables, sharded by
trace id so every copy of a span (retries, reprice rewrites) lands on the same
shard and FINAL still collapses it there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tables:
    spans: str = "spans"
    events: str = "genai_events"
    metrics: str = "genai_metrics"
    trace_index: str = "trace_index"
    usage_minute: str = "usage_minute"
    span_links: str = "span_links"
    evaluations: str = "evaluations"

    @classmethod
    def for_cluster(cls, cluster: str | None) -> "Tables":
        if not cluster:
            return cls()
        return cls("spans_dist", "genai_events_dist", "genai_metrics_dist", "trace_index_dist", "usage_minute_dist",
                   "span_links_dist", "evaluations_dist")
