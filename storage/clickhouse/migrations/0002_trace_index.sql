-- trace id -> time range, so fetching one trace reads one or two hours of the
-- spans table by its primary key instead of every granule.  Min/max are
-- idempotent, so retried exports and reprice rewrites change nothing here.
CREATE TABLE IF NOT EXISTS {db}trace_index {on_cluster}
(
    project_id  LowCardinality(String),
    trace_id    FixedString(32),
    start_min   SimpleAggregateFunction(min, DateTime64(9, 'UTC')),
    end_max     SimpleAggregateFunction(max, DateTime64(9, 'UTC'))
)
ENGINE = {aggregating_engine}()
ORDER BY (project_id, trace_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}trace_index_mv {on_cluster} TO {db}trace_index AS
SELECT project_id, trace_id, min(start_time) AS start_min, max(end_time) AS end_max
FROM {db}spans
GROUP BY project_id, trace_id;

INSERT INTO {db}trace_index
SELECT project_id, trace_id, min(start_time), max(end_time) FROM {db}spans GROUP BY project_id, trace_id;
