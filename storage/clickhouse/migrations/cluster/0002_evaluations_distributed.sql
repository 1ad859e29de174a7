-- Cluster only: scores are sharded by trace id like their spans, so the app
-- scores copied by evaluations_app_mv (which runs on the shard holding the
-- event) and the worker's scores of the same span meet on one shard.
CREATE TABLE IF NOT EXISTS {db}evaluations_dist {on_cluster} AS {db}evaluations
ENGINE = Distributed('{llmobs_cluster}', '{llmobs_database}', 'evaluations', cityHash64(trace_id));
