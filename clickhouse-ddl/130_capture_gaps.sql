-- Capture gaps, recorded by recoverPipeline (activities/recover.ts): per
-- captured table, a stretch of the source's WAL whose changes the pipeline
-- could not capture because its replication slot was lost (Postgres
-- invalidated it past max_slot_wal_keep_size) or missing (dropped, or a
-- failover to a standby, which has no logical slots). Changes committed after
-- from_lsn and before to_lsn are not in <t>_changes and never will be (the WAL
-- is gone); the resync at reload_lsn brought each key's net result (a read or
-- a delete at that version where the key differed). Here, beside the change
-- history it qualifies, so dbt and anyone querying ClickHouse see it; kept for
-- good, like <t>_changes. Read with FINAL (a recovery rewrites its rows once
-- the table is reloaded).
CREATE TABLE IF NOT EXISTS {{CLICKHOUSE_DATABASE}}.capture_gaps
(
    source_table String COMMENT 'captured Postgres table (schema.table)',
    slot         String COMMENT 'the replication slot that was lost or missing',
    reason       LowCardinality(String) COMMENT 'slot lost or slot missing',
    from_lsn     UInt64 COMMENT 'the last position captured: changes committed after it and before to_lsn were not captured',
    to_lsn       UInt64 COMMENT 'the new slot''s consistent point: changes committed from here on are captured',
    from_time    Nullable(DateTime64(3, 'UTC')) COMMENT 'commit time of the last change the connector processed before the gap (null: unknown)',
    to_time      DateTime64(3, 'UTC') COMMENT 'when the new slot was created',
    reload_lsn   Nullable(UInt64) COMMENT 'version of the resync that reloaded the table after the gap (null: not reloaded yet)',
    recovered_by String COMMENT 'the recoverPipeline workflow that recorded it',
    recorded_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (source_table, from_lsn);
