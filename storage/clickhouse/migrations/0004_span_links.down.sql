DROP VIEW IF EXISTS {db}span_links_mv {on_cluster};
DROP TABLE IF EXISTS {db}span_links {on_cluster};
