-- Cluster only: the Distributed table mirrors the new spans column.
ALTER TABLE {db}spans_dist {on_cluster} ADD COLUMN IF NOT EXISTS content_kept UInt8 DEFAULT 1 AFTER links;
