-- One row per replayed request: the output of one variant for one captured
-- LLM call (source span) in one replay run.  ReplacingMergeTree on (run,
-- variant, source span): a resumed run that retries a failed request
-- replaces the failed row instead of adding a second one.
CREATE TABLE IF NOT EXISTS {db}replay_results {on_cluster}
(
    project_id          LowCardinality(String),
    run_id              String,
    variant             LowCardinality(String),
    source_trace_id     String,
    source_span_id      String,
    started_at          DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    endpoint            LowCardinality(String),
    model               LowCardinality(String),
    status              LowCardinality(String),
    error               String CODEC(ZSTD(1)),
    attempts            UInt8,
    ttft_ns             Nullable(UInt64),
    e2e_ns              UInt64,
    itl_ns              Array(UInt64) CODEC(ZSTD(1)),
    input_tokens        UInt64,
    output_tokens       UInt64,
    finish_reason       LowCardinality(String),
    output_text         String CODEC(ZSTD(1)),
    request_json        String CODEC(ZSTD(1)),
    trace_id            String,
    span_id             String,
    version             UInt64
)
ENGINE = {replacing_engine}(version)
ORDER BY (project_id, run_id, variant, source_span_id);
