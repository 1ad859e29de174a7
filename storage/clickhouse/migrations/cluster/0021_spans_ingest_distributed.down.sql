DROP VIEW IF EXISTS {db}spans_ingest_mv {on_cluster};
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}spans_ingest_mv {on_cluster} TO {db}spans AS {spans_ingest_select};
