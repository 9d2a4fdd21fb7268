-- The monitor's history (monitor/history.ts): every sample of every series it
-- exports, and every alert it sent, so the pipeline page draws its charts
-- without Prometheus and a restarted monitor neither loses them nor sends an
-- alert that is already out again. `instance` is MONITOR_INSTANCE: several
-- monitors (a test's own, say) can share the tables.

CREATE TABLE IF NOT EXISTS {{CLICKHOUSE_DATABASE}}.monitor_samples
(
    at       DateTime64(3, 'UTC'),
    instance LowCardinality(String),
    metric   LowCardinality(String),
    labels   Map(String, String),
    value    Float64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (instance, metric, at)
TTL toDateTime(at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS {{CLICKHOUSE_DATABASE}}.monitor_alerts
(
    at        DateTime64(3, 'UTC'),
    instance  LowCardinality(String),
    kind      LowCardinality(String),
    alert_key String,
    labels    Map(String, String),
    state     LowCardinality(String) COMMENT 'firing or resolved',
    since     DateTime64(3, 'UTC') COMMENT 'when the alert started firing',
    value     Float64,
    text      String,
    delivered UInt8 COMMENT '1 when the webhook accepted it'
)
ENGINE = MergeTree
ORDER BY (instance, at);
