-- Cluster only: the ingest view writes through the Distributed spans table,
-- so each span lands on its trace's shard whichever node took the export.
DROP VIEW IF EXISTS {db}spans_ingest_mv {on_cluster};
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}spans_ingest_mv {on_cluster} TO {db}spans_dist AS {spans_ingest_select};
