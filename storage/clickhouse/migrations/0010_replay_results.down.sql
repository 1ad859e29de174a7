DROP TABLE IF EXISTS {db}replay_results {on_cluster};
