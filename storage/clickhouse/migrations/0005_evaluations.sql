-- One row per score: evaluators run by the worker (source 'worker') and
-- gen_ai.evaluation.result events sent by apps (source 'app') land here.
-- ReplacingMergeTree on the score's identity (project, evaluator, metric,
-- span, version, source): rescoring a span with the same evaluator version
-- replaces its row, so retries and backfills are idempotent.  `time` is the
-- scored span's start time (a window's end for drift), so a score sits next
-- to its span on every chart and its partition never changes.
-- Window evaluators (drift) leave trace and span ids empty: one row per
-- feature, model and window end, with the p-value as score and the effect
-- size and test statistic in `details`.
CREATE TABLE IF NOT EXISTS {db}evaluations {on_cluster}
(
    project_id     LowCardinality(String),
    time           DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    trace_id       String,
    span_id        String,
    evaluator      LowCardinality(String),
    version        LowCardinality(String),
    metric         LowCardinality(String),
    score          Nullable(Float64),
    label          LowCardinality(String),
    explanation    String CODEC(ZSTD(1)),
    details        String CODEC(ZSTD(1)),
    source         LowCardinality(String),
    service_name   LowCardinality(String),
    model          LowCardinality(String),
    evaluated_at   DateTime64(6, 'UTC'),
    record_version UInt64,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = {replacing_engine}(record_version)
PARTITION BY toYYYYMM(time)
ORDER BY (project_id, evaluator, metric, toStartOfHour(time), trace_id, span_id, model, source, version)
TTL toDateTime(time) + INTERVAL 400 DAY
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- Apps that score their own answers send gen_ai.evaluation.result log
-- events (OTel GenAI semconv); they are stored in genai_events like every
-- GenAI event, and this view copies each one into evaluations.  Retried
-- exports give the same identity and collapse like any other score.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}evaluations_app_mv {on_cluster} TO {db}evaluations AS
SELECT project_id, time, trace_id, span_id,
       if(attributes['gen_ai.evaluation.name'] = '', 'app', attributes['gen_ai.evaluation.name']) AS evaluator,
       '' AS version,
       if(attributes['gen_ai.evaluation.name'] = '', 'app', attributes['gen_ai.evaluation.name']) AS metric,
       toFloat64OrNull(attributes['gen_ai.evaluation.score.value']) AS score,
       attributes['gen_ai.evaluation.score.label'] AS label,
       attributes['gen_ai.evaluation.explanation'] AS explanation,
       toJSONString(mapFilter((k, v) -> k NOT IN ('gen_ai.evaluation.name', 'gen_ai.evaluation.score.value',
                                                   'gen_ai.evaluation.score.label', 'gen_ai.evaluation.explanation'),
                              attributes)) AS details,
       'app' AS source, service_name,
       if(attributes['gen_ai.response.model'] != '', attributes['gen_ai.response.model'],
          attributes['gen_ai.request.model']) AS model,
       now64(6) AS evaluated_at, e.version AS record_version
FROM {db}genai_events AS e
WHERE event_name = 'gen_ai.evaluation.result';

INSERT INTO {db}evaluations
SELECT project_id, time, trace_id, span_id,
       if(attributes['gen_ai.evaluation.name'] = '', 'app', attributes['gen_ai.evaluation.name']),
       '',
       if(attributes['gen_ai.evaluation.name'] = '', 'app', attributes['gen_ai.evaluation.name']),
       toFloat64OrNull(attributes['gen_ai.evaluation.score.value']),
       attributes['gen_ai.evaluation.score.label'],
       attributes['gen_ai.evaluation.explanation'],
       toJSONString(mapFilter((k, v) -> k NOT IN ('gen_ai.evaluation.name', 'gen_ai.evaluation.score.value',
                                                   'gen_ai.evaluation.score.label', 'gen_ai.evaluation.explanation'),
                              attributes)),
       'app', service_name,
       if(attributes['gen_ai.response.model'] != '', attributes['gen_ai.response.model'],
          attributes['gen_ai.request.model']),
       now64(6), version
FROM {db}genai_events
WHERE event_name = 'gen_ai.evaluation.result';
