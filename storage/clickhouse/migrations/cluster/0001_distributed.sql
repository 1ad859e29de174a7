-- Cluster only: Distributed tables over the replicated local tables.  Spans,
-- their events and their trace-index rows are sharded by trace id, so one
-- trace (and every retried copy of a span) lives on one shard.
CREATE TABLE IF NOT EXISTS {db}spans_dist {on_cluster} AS {db}spans
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'spans', cityHash64(trace_id));

CREATE TABLE IF NOT EXISTS {db}genai_events_dist {on_cluster} AS {db}genai_events
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'genai_events', cityHash64(trace_id));

CREATE TABLE IF NOT EXISTS {db}genai_metrics_dist {on_cluster} AS {db}genai_metrics
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'genai_metrics', rand());

CREATE TABLE IF NOT EXISTS {db}trace_index_dist {on_cluster} AS {db}trace_index
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'trace_index', cityHash64(trace_id));

CREATE TABLE IF NOT EXISTS {db}usage_minute_dist {on_cluster} AS {db}usage_minute
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'usage_minute', cityHash64(project_id, minute));

CREATE TABLE IF NOT EXISTS {db}span_links_dist {on_cluster} AS {db}span_links
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'span_links', cityHash64(trace_id));
