DROP TABLE IF EXISTS {db}genai_metrics {on_cluster};
DROP TABLE IF EXISTS {db}genai_events {on_cluster};
DROP TABLE IF EXISTS {db}spans {on_cluster};
