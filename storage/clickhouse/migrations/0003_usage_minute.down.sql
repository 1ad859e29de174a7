DROP TABLE IF EXISTS {db}usage_minute {on_cluster};
