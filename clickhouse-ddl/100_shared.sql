-- Objects shared by every captured table. Numbered migrations hold only
-- one-off, shared objects; each captured table's queue, change log, current
-- state and views are derived from the catalog (catalog/, `npm run catalog --
-- show <table>` prints them) and reconciled by `npm run setup`.
--
-- 010-030 created the first tables by hand; stacks that applied them keep
-- those objects, which the catalog adopts as they are.

CREATE DATABASE IF NOT EXISTS {{CLICKHOUSE_DATABASE}};

-- Messages no materialized view could parse (kafka_handle_error_mode='stream'),
-- from every table's queue, with the error: kept, never dropped.
CREATE TABLE IF NOT EXISTS {{CLICKHOUSE_DATABASE}}.kafka_errors
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
