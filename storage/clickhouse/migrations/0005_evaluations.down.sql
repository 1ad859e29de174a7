DROP VIEW IF EXISTS {db}evaluations_app_mv {on_cluster};
DROP TABLE IF EXISTS {db}evaluations {on_cluster};
