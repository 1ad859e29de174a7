-- The shape of recent traces (who is whose parent, which spans are LLM
-- calls), sorted by trace id so counting each LLM call once across exports
-- reads a few index ranges instead of scanning hours of the spans table.
-- Kept for a week: the time a trace may still be receiving spans.
CREATE TABLE IF NOT EXISTS {db}span_links {on_cluster}
(
    project_id      LowCardinality(String),
    trace_id        FixedString(32),
    span_id         FixedString(16),
    parent_span_id  String,
    start_time      DateTime64(9, 'UTC'),
    is_usage        UInt8,
    is_server       UInt8,
    counts_usage    UInt8,
    version         UInt64
)
ENGINE = {replacing_engine}(version)
PARTITION BY toDate(start_time)
ORDER BY (project_id, trace_id, span_id)
TTL toDateTime(start_time) + INTERVAL 7 DAY
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}span_links_mv {on_cluster} TO {db}span_links AS
SELECT project_id, trace_id, span_id, parent_span_id, start_time,
       toUInt8(span_type IN ('llm', 'embedding')) AS is_usage, toUInt8(dialect = 'vllm') AS is_server,
       counts_usage, version
FROM {db}spans;

INSERT INTO {db}span_links
SELECT project_id, trace_id, span_id, parent_span_id, start_time, toUInt8(span_type IN ('llm', 'embedding')),
       toUInt8(dialect = 'vllm'), counts_usage, version
FROM {db}spans WHERE start_time > now() - INTERVAL 7 DAY;
