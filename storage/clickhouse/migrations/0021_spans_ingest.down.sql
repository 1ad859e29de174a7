DROP VIEW IF EXISTS {db}spans_ingest_mv {on_cluster};
DROP TABLE IF EXISTS {db}spans_ingest {on_cluster};
