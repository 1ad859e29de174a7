DROP VIEW IF EXISTS {db}trace_index_mv {on_cluster};
DROP TABLE IF EXISTS {db}trace_index {on_cluster};
