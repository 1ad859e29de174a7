-- Ingest sampling (collector/sampling.py): 0 when a span was stored without its
-- content (messages, events, long or content-bearing raw attributes).  Its
-- canonical numbers are always kept, so usage and cost stay exact.
ALTER TABLE {db}spans {on_cluster} ADD COLUMN IF NOT EXISTS content_kept UInt8 DEFAULT 1 AFTER links;
