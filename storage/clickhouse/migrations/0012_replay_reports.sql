-- The comparison report of a replay run (or of one shadow window), as JSON,
-- with the verdict promoted to a column for listing.
CREATE TABLE IF NOT EXISTS {db}replay_reports {on_cluster}
(
    project_id    LowCardinality(String),
    run_id        String,
    window_start  DateTime64(6, 'UTC'),
    created_at    DateTime64(6, 'UTC'),
    verdict       LowCardinality(String),
    report        String CODEC(ZSTD(1)),
    version       UInt64
)
ENGINE = {replacing_engine}(version)
ORDER BY (project_id, run_id, window_start);
