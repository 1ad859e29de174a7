ALTER TABLE {db}spans_dist {on_cluster} DROP COLUMN IF EXISTS content_kept;
