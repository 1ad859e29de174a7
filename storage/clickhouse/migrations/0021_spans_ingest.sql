-- The engine-side span insert (storage/clickhouse/ingest_format.py): exports
-- arrive as raw OTLP protobuf plus the normaliser's columns, in the Protobuf
-- input format, into a Null table (nothing is kept there); the view builds
-- the stored spans rows, raw attribute maps included, inside the engine.
-- The spans table's own views (trace index, links) fire on what it writes.
CREATE TABLE IF NOT EXISTS {db}spans_ingest {on_cluster} ({spans_ingest_columns}) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}spans_ingest_mv {on_cluster} TO {db}spans AS {spans_ingest_select};
