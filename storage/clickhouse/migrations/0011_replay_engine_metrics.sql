-- What each pool member's Prometheus /metrics moved by while one variant of a
-- run was replayed (counters: after - before; gauges: the value after).
CREATE TABLE IF NOT EXISTS {db}replay_engine_metrics {on_cluster}
(
    project_id                LowCardinality(String),
    run_id                    String,
    variant                   LowCardinality(String),
    endpoint                  String,
    scraped_at                DateTime64(6, 'UTC'),
    spec_drafts               Float64,
    spec_draft_tokens         Float64,
    spec_accepted_tokens      Float64,
    spec_accepted_per_pos     Array(Float64),
    acceptance_rate           Nullable(Float64),
    mean_accepted_length      Nullable(Float64),
    kv_cache_usage            Nullable(Float64),
    queue_time_seconds_sum    Float64,
    queue_time_count          Float64,
    deltas                    Map(String, Float64),
    version                   UInt64
)
ENGINE = {replacing_engine}(version)
ORDER BY (project_id, run_id, variant, endpoint);
