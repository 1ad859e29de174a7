DROP TABLE IF EXISTS {db}replay_reports_dist {on_cluster};
DROP TABLE IF EXISTS {db}replay_engine_metrics_dist {on_cluster};
DROP TABLE IF EXISTS {db}replay_results_dist {on_cluster};
