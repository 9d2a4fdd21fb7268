-- CDC of public.cdc_types_probe, the pipeline's self-test table (see
-- db/migrations/postgres/100_cdc_probe_heartbeat.sql): same shape as
-- 010_astronauts.sql (queue -> changelog, current state, errors), with the
-- type mappings the operational table does not exercise:
--
--   timestamptz      Debezium ZonedTimestamp text '…T…123456Z' -> DateTime64(6, 'UTC')
--                    (ClickHouse's DateTime64 range is 1900..2299; outside it the value is NULL)
--   numeric(38,18)   decimal.handling.mode=string: exact text kept in <col>_text, and
--                    Decimal(38, 18) beside it (exact: same precision and scale as the source;
--                    NULL only for NaN/Infinity, which the text column still shows)
--   numeric          unconstrained: any number of digits, so only text is exact -> String
--   text             Nullable(String): NULL and '' stay different
--
-- input_format_avro_allow_missing_fields = 1: a column present here but not
-- (yet) in the writer's Avro schema is read as NULL instead of failing the
-- message. That lets a new column be added on the ClickHouse side before the
-- source (see the schema-change procedure in test/integration/cdc.test.ts).

CREATE TABLE IF NOT EXISTS astros.cdc_types_probe_changelog
(
    probe_key       String,
    label           Nullable(String),
    counter         Int32,
    happened_at     Nullable(DateTime64(6, 'UTC')),
    amount          Nullable(Decimal(38, 18)),
    amount_text     Nullable(String),
    big_number      Nullable(String),
    payload         Nullable(String),
    op              LowCardinality(String),
    is_deleted      UInt8,
    lsn             UInt64,
    tx_id           Nullable(UInt64),
    commit_ts       DateTime64(3, 'UTC'),
    captured_ts     DateTime64(3, 'UTC'),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (probe_key, lsn, kafka_offset);

CREATE TABLE IF NOT EXISTS astros.cdc_types_probe
(
    probe_key       String,
    label           Nullable(String),
    counter         Int32,
    happened_at     Nullable(DateTime64(6, 'UTC')),
    amount          Nullable(Decimal(38, 18)),
    amount_text     Nullable(String),
    big_number      Nullable(String),
    payload         Nullable(String),
    commit_ts       DateTime64(3, 'UTC'),
    version         UInt64 COMMENT 'source LSN of the change that produced this row',
    is_deleted      UInt8
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY probe_key;

CREATE TABLE IF NOT EXISTS astros.cdc_types_probe_queue
(
    probe_key       String,
    label           Nullable(String),
    counter         Nullable(Int32),
    happened_at     Nullable(String),
    amount          Nullable(String),
    big_number      Nullable(String),
    payload         Nullable(String),
    __op            Nullable(String),
    __lsn           Nullable(Int64),
    __source_ts_ms  Nullable(Int64),
    __ts_ms         Nullable(Int64),
    __source_txId   Nullable(Int64),
    __deleted       Nullable(String)
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = '{{KAFKA_BROKERS}}',
    kafka_topic_list = 'astros.public.cdc_types_probe',
    kafka_group_name = '{{KAFKA_GROUP_PREFIX}}-cdc-types-probe',
    kafka_format = 'AvroConfluent',
    format_avro_schema_registry_url = '{{SCHEMA_REGISTRY_URL}}',
    input_format_avro_allow_missing_fields = 1,
    kafka_handle_error_mode = 'stream',
    kafka_num_consumers = 1,
    kafka_max_block_size = 65536,
    kafka_poll_timeout_ms = 100,
    kafka_flush_interval_ms = 200;

CREATE MATERIALIZED VIEW IF NOT EXISTS astros.cdc_types_probe_changelog_mv TO astros.cdc_types_probe_changelog AS
SELECT
    probe_key,
    label,
    coalesce(counter, 0) AS counter,
    parseDateTime64BestEffortOrNull(happened_at, 6, 'UTC') AS happened_at,
    toDecimal128OrNull(amount, 18) AS amount,
    amount AS amount_text,
    big_number,
    payload,
    coalesce(__op, '') AS op,
    toUInt8(__deleted = 'true') AS is_deleted,
    toUInt64(coalesce(__lsn, 0)) AS lsn,
    toUInt64OrNull(toString(__source_txId)) AS tx_id,
    fromUnixTimestamp64Milli(coalesce(__source_ts_ms, 0), 'UTC') AS commit_ts,
    fromUnixTimestamp64Milli(coalesce(__ts_ms, 0), 'UTC') AS captured_ts,
    _partition AS kafka_partition,
    _offset AS kafka_offset
FROM astros.cdc_types_probe_queue
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS astros.cdc_types_probe_current_mv TO astros.cdc_types_probe AS
SELECT
    probe_key,
    label,
    coalesce(counter, 0) AS counter,
    parseDateTime64BestEffortOrNull(happened_at, 6, 'UTC') AS happened_at,
    toDecimal128OrNull(amount, 18) AS amount,
    amount AS amount_text,
    big_number,
    payload,
    fromUnixTimestamp64Milli(coalesce(__source_ts_ms, 0), 'UTC') AS commit_ts,
    toUInt64(coalesce(__lsn, 0)) AS version,
    toUInt8(__deleted = 'true') AS is_deleted
FROM astros.cdc_types_probe_queue
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS astros.cdc_types_probe_errors_mv TO astros.kafka_errors AS
SELECT _topic AS topic, _partition AS partition, _offset AS offset, _raw_message AS raw_message, _error AS error
FROM astros.cdc_types_probe_queue
WHERE length(_error) > 0;
