-- CDC of public.astronauts: Debezium (ExtractNewRecordState, deletes rewritten
-- with __deleted) -> Kafka topic astros.public.astronauts (Avro, Confluent wire
-- format, schemas in the registry's Confluent-compatible API) -> ClickHouse.
--
-- Three objects per topic, as in ClickHouse's own CDC examples:
--   astronauts_queue          Kafka engine, reads the topic (at least once)
--   astronauts_changelog_mv   -> astronauts_changelog  every event, append-only
--   astronauts_current_mv     -> astronauts            current state: ReplacingMergeTree(version, is_deleted)
--   astronauts_errors_mv      -> kafka_errors          messages that could not be parsed, with the error
--
-- version = the source LSN of the change, so replays and duplicates from the
-- at-least-once consumer collapse, and a late duplicate of an older event can
-- never undo a newer delete. `SELECT ... FROM astros.astronauts FINAL` shows
-- exactly the live rows.

CREATE DATABASE IF NOT EXISTS astros;

CREATE TABLE IF NOT EXISTS astros.astronauts_changelog
(
    person_key      String,
    name            String,
    craft           String,
    created_at      Nullable(DateTime64(6, 'UTC')),
    updated_at      Nullable(DateTime64(6, 'UTC')),
    updated_by_run  String,
    op              LowCardinality(String) COMMENT 'c insert, u update, d delete, r snapshot read',
    is_deleted      UInt8,
    lsn             UInt64 COMMENT 'Postgres LSN of the change (orders changes)',
    tx_id           Nullable(UInt64),
    commit_ts       DateTime64(3, 'UTC') COMMENT 'commit time in Postgres (source.ts_ms)',
    captured_ts     DateTime64(3, 'UTC') COMMENT 'when Debezium processed the event',
    kafka_partition UInt32,
    kafka_offset    UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (person_key, lsn, kafka_offset);

CREATE TABLE IF NOT EXISTS astros.astronauts
(
    person_key      String,
    name            String,
    craft           String,
    created_at      Nullable(DateTime64(6, 'UTC')),
    updated_at      Nullable(DateTime64(6, 'UTC')),
    updated_by_run  String,
    commit_ts       DateTime64(3, 'UTC'),
    version         UInt64 COMMENT 'source LSN of the change that produced this row',
    is_deleted      UInt8
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY person_key;

CREATE TABLE IF NOT EXISTS astros.kafka_errors
(
    topic       String,
    partition   UInt32,
    offset      UInt64,
    raw_message String,
    error       String,
    received_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (topic, partition, offset);

CREATE TABLE IF NOT EXISTS astros.astronauts_queue
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
    kafka_handle_error_mode = 'stream',
    kafka_num_consumers = 1,
    kafka_max_block_size = 65536,
    kafka_poll_timeout_ms = 100,
    kafka_flush_interval_ms = 200;

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
