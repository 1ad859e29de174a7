DROP TABLE IF EXISTS {db}replay_reports {on_cluster};
