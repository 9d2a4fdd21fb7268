-- Consumer tuning measured by the benchmarks (bench/README.md), applied to the
-- pipeline's Kafka tables. ClickHouse cannot ALTER a Kafka-engine table, so each
-- queue is recreated with the same consumer group: consumption resumes from the
-- group's committed offsets (nothing is skipped; a block read but not yet
-- committed may be read again, which the ReplacingMergeTree version absorbs).
--
--   kafka_consumer_reschedule_ms 500 -> 50   an idle consumer polls again after 50 ms
--                                            instead of 500 ms: single-change latency
--                                            p50 643 ms -> 155 ms in the benchmark
--   kafka_poll_timeout_ms 100 -> 20, kafka_flush_interval_ms 200 -> 100
--   input_format_avro_allow_missing_fields = 1 (astronauts): a column added on the
--                                            ClickHouse side first reads as NULL until
--                                            the source has it (schema-change procedure
--                                            in test/integration/cdc.test.ts)
--
-- A recreated consumer waits for the group to rebalance (up to the Kafka
-- session timeout, about 45 s) before it reads again.
DROP TABLE IF EXISTS astros.astronauts_changelog_mv;
DROP TABLE IF EXISTS astros.astronauts_current_mv;
DROP TABLE IF EXISTS astros.astronauts_errors_mv;
DROP TABLE IF EXISTS astros.astronauts_queue;

CREATE TABLE astros.astronauts_queue
(
    person_key      String,
    name            Nullable(String),
    craft           Nullable(String),
    created_at      Nullable(String),
    updated_at      Nullable(String),
    updated_by_run  Nullable(String),
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
    kafka_topic_list = 'astros.public.astronauts',
    kafka_group_name = '{{KAFKA_GROUP_PREFIX}}-astronauts',
    kafka_format = 'AvroConfluent',
    format_avro_schema_registry_url = '{{SCHEMA_REGISTRY_URL}}',
    input_format_avro_allow_missing_fields = 1,
    kafka_handle_error_mode = 'stream',
    kafka_num_consumers = 1,
    kafka_max_block_size = 65536,
    kafka_poll_timeout_ms = 20,
    kafka_flush_interval_ms = 100,
    kafka_consumer_reschedule_ms = 50;

CREATE MATERIALIZED VIEW IF NOT EXISTS astros.astronauts_changelog_mv TO astros.astronauts_changelog AS
SELECT
    person_key,
    coalesce(name, '') AS name,
    coalesce(craft, '') AS craft,
    parseDateTime64BestEffortOrNull(created_at, 6, 'UTC') AS created_at,
    parseDateTime64BestEffortOrNull(updated_at, 6, 'UTC') AS updated_at,
    coalesce(updated_by_run, '') AS updated_by_run,
    coalesce(__op, '') AS op,
    toUInt8(__deleted = 'true') AS is_deleted,
    toUInt64(coalesce(__lsn, 0)) AS lsn,
    toUInt64OrNull(toString(__source_txId)) AS tx_id,
    fromUnixTimestamp64Milli(coalesce(__source_ts_ms, 0), 'UTC') AS commit_ts,
    fromUnixTimestamp64Milli(coalesce(__ts_ms, 0), 'UTC') AS captured_ts,
    _partition AS kafka_partition,
    _offset AS kafka_offset
FROM astros.astronauts_queue
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS astros.astronauts_current_mv TO astros.astronauts AS
SELECT
    person_key,
    coalesce(name, '') AS name,
    coalesce(craft, '') AS craft,
    parseDateTime64BestEffortOrNull(created_at, 6, 'UTC') AS created_at,
    parseDateTime64BestEffortOrNull(updated_at, 6, 'UTC') AS updated_at,
    coalesce(updated_by_run, '') AS updated_by_run,
    fromUnixTimestamp64Milli(coalesce(__source_ts_ms, 0), 'UTC') AS commit_ts,
    toUInt64(coalesce(__lsn, 0)) AS version,
    toUInt8(__deleted = 'true') AS is_deleted
FROM astros.astronauts_queue
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS astros.astronauts_errors_mv TO astros.kafka_errors AS
SELECT _topic AS topic, _partition AS partition, _offset AS offset, _raw_message AS raw_message, _error AS error
FROM astros.astronauts_queue
WHERE length(_error) > 0;

DROP TABLE IF EXISTS astros.cdc_types_probe_changelog_mv;
DROP TABLE IF EXISTS astros.cdc_types_probe_current_mv;
DROP TABLE IF EXISTS astros.cdc_types_probe_errors_mv;
DROP TABLE IF EXISTS astros.cdc_types_probe_queue;

CREATE TABLE astros.cdc_types_probe_queue
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
    kafka_poll_timeout_ms = 20,
    kafka_flush_interval_ms = 100,
    kafka_consumer_reschedule_ms = 50;

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
