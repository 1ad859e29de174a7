-- Per-minute usage and cost by project, service, provider and model.
-- Not fed by a materialized view: a view would count a retried export twice.
-- The server re-aggregates each touched minute from `spans FINAL` (see
-- storage/clickhouse/rollups.py), and the newest aggregate of a minute
-- replaces the older one, so the rollup is exact under retries, late spans
-- and repricing.
CREATE TABLE IF NOT EXISTS {db}usage_minute {on_cluster}
(
    project_id             LowCardinality(String),
    minute                 DateTime('UTC'),
    service_name           LowCardinality(String),
    provider               LowCardinality(String),
    model                  LowCardinality(String),
    requests               UInt64,
    errors                 UInt64,
    uncached_input_tokens  UInt64,
    cache_read_tokens      UInt64,
    cache_write_tokens     UInt64,
    output_text_tokens     UInt64,
    reasoning_tokens       UInt64,
    cost_total             Nullable(Decimal(38, 12)),
    provider_cost          Nullable(Decimal(38, 12)),
    unpriced               UInt64,
    duration_ns_sum        UInt64,
    version                UInt64
)
ENGINE = {replacing_engine}(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (project_id, minute, service_name, provider, model)
TTL minute + INTERVAL 400 DAY;
