-- Cluster only: Distributed tables over the replicated replay tables (their
-- local tables come from 0010-0012 with {replacing_engine}, so on a cluster
-- they are ReplicatedReplacingMergeTree ON CLUSTER).  Each sharding key hashes
-- columns of its table's ReplacingMergeTree key, so a retried copy of a row
-- (a resumed request, a rewritten report) lands on the shard holding the
-- first one and FINAL collapses them there.
CREATE TABLE IF NOT EXISTS {db}replay_results_dist {on_cluster} AS {db}replay_results
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'replay_results', cityHash64(run_id, source_span_id));

CREATE TABLE IF NOT EXISTS {db}replay_engine_metrics_dist {on_cluster} AS {db}replay_engine_metrics
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'replay_engine_metrics', cityHash64(run_id));

CREATE TABLE IF NOT EXISTS {db}replay_reports_dist {on_cluster} AS {db}replay_reports
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'replay_reports', cityHash64(run_id));
