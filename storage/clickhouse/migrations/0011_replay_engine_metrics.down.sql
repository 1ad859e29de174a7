DROP TABLE IF EXISTS {db}replay_engine_metrics {on_cluster};
