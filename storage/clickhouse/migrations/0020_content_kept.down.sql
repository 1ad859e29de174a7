ALTER TABLE {db}spans {on_cluster} DROP COLUMN IF EXISTS content_kept;
