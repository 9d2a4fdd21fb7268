/**
 * The benchmark's own objects, created at run time and idempotently, so the
 * numbered migrations and the main connector stay untouched:
 *
 *   Postgres   public.bench_cdc   captured by our pipeline (publication bench_publication)
 *              public.bench_base  same shape, same workload, read by the baselines
 *                                 (pg_recvlogical ceiling, MaterializedPostgreSQL peer)
 *   Connect    bench-postgres     debezium/bench-postgres.json (own slot, publication, topic prefix)
 *   ClickHouse bench.cdc_queue (Kafka engine) -> bench.cdc_changelog_mv -> bench.cdc_changelog
 *                                            -> bench.cdc_current_mv   -> bench.cdc_current
 *              (the same three-object shape as clickhouse-ddl/010_astronauts.sql)
 *
 * Both ClickHouse targets get `ingested_at DEFAULT now64(6)` and the change's
 * commit time (Debezium source.ts_us), so every change's commit->visible
 * latency is known without polling.
 */
import { consumerSettings } from '../../catalog/consumer-settings.ts';
import type { ClickHouseClient } from '@clickhouse/client';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { registerConnector } from '../../pipeline/setup.ts';
import { repoRoot } from '../../stack/lib/context.ts';

export const names = {
  table: 'bench_cdc',
  baseTable: 'bench_base',
  publication: 'bench_publication',
  slot: 'bench_debezium',
  connector: 'bench-postgres',
  topic: 'bench.public.bench_cdc',
  chDb: 'bench',
  group: 'astros-bench-cdc',
} as const;

/** Pipeline knobs the benchmark can turn (undefined = the main pipeline's value: debezium/astros-postgres.json, clickhouse-ddl/). */
export interface Tuning {
  pollIntervalMs?: number;
  maxBatchSize?: number;
  maxQueueSize?: number;
  lingerMs?: number;
  compression?: string;
  kafkaMaxBlockSize?: number;
  kafkaFlushIntervalMs?: number;
  kafkaPollTimeoutMs?: number;
  kafkaNumConsumers?: number;
  kafkaConsumerRescheduleMs?: number;
  /** Any other connector settings (experiments); an empty value removes the key. */
  connectorSet?: Record<string, string>;
}

/**
 * The main pipeline's Kafka-engine settings, from the catalog's one list
 * (catalog/consumer-settings.ts: every captured table's queue gets them), so
 * that a bench run without flags measures what ships.
 */
function mainKafkaSettings() {
  const setting = (name: string): number => {
    const v = consumerSettings.find((s) => s.name === name)?.value;
    if (typeof v !== 'number') throw new Error(`bench: ${name} is not a number in catalog/consumer-settings.ts`);
    return v;
  };
  return {
    kafkaMaxBlockSize: setting('kafka_max_block_size'),
    kafkaFlushIntervalMs: setting('kafka_flush_interval_ms'),
    kafkaPollTimeoutMs: setting('kafka_poll_timeout_ms'),
    kafkaNumConsumers: setting('kafka_num_consumers'),
    kafkaConsumerRescheduleMs: setting('kafka_consumer_reschedule_ms'),
  };
}

export const kafkaDefaults = mainKafkaSettings();

/** Connector settings that are performance knobs: taken from the main connector, so the bench measures what ships. */
const connectorKnobs = ['poll.interval.ms', 'max.batch.size', 'max.queue.size', 'producer.override.linger.ms', 'producer.override.compression.type'];

export async function ensurePostgres(pool: pg.Pool): Promise<void> {
  for (const t of [names.table, names.baseTable]) {
    await pool.query(`create table if not exists public.${t} (
      id bigint primary key, v integer not null, payload text not null, updated_at timestamptz not null default now())`);
  }
  await pool.query(`do $$ begin
    if not exists (select 1 from pg_publication where pubname = '${names.publication}') then
      create publication ${names.publication} for table public.${names.table} with (publish = 'insert, update, delete');
    end if;
    if exists (select 1 from pg_roles where rolname = 'astros_cdc') then
      grant select on public.${names.table} to astros_cdc;
    end if;
  end $$`);
}

/** Returns true when the Kafka table was (re)created: its consumer then needs a warm-up. */
export async function ensureClickHouse(ch: ClickHouseClient, kafkaBrokers: string, registryUrl: string, tuning: Tuning): Promise<boolean> {
  const t = stripUndefined(tuning);
  const k = Object.fromEntries(Object.entries(kafkaDefaults).map(([key, v]) => [key, t[key as keyof Tuning] ?? v])) as typeof kafkaDefaults;
  const db = names.chDb;
  const signature = JSON.stringify([k, kafkaBrokers, registryUrl]);
  const current = await ch
    .query({ query: `SELECT comment FROM system.tables WHERE database = {db:String} AND name = 'cdc_queue'`, query_params: { db }, format: 'JSONEachRow' })
    .then((r) => r.json<{ comment: string }>());
  const recreate = current[0]?.comment !== signature;
  const stmts = [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${db}.cdc_changelog (
       id Int64, op LowCardinality(String), lsn UInt64,
       commit_ts DateTime64(6, 'UTC') COMMENT 'Postgres commit (Debezium source.ts_us)',
       captured_ts DateTime64(6, 'UTC') COMMENT 'Debezium processed the event (ts_us)',
       kafka_ts DateTime64(3, 'UTC') COMMENT 'Kafka record timestamp (producer CreateTime)',
       ingested_at DateTime64(6, 'UTC') DEFAULT now64(6))
     ENGINE = MergeTree ORDER BY (lsn, id)`,
    `CREATE TABLE IF NOT EXISTS ${db}.cdc_current (
       id Int64, v Int32, payload String, updated_at Nullable(DateTime64(6, 'UTC')),
       commit_ts DateTime64(6, 'UTC'), version UInt64, is_deleted UInt8,
       ingested_at DateTime64(6, 'UTC') DEFAULT now64(6))
     ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY id`,
  ];
  // The Kafka table is re-created only when its settings change (a new
  // consumer waits for the old member to leave the group); the consumer group
  // and its committed offsets survive.
  if (recreate) stmts.push(
    `DROP VIEW IF EXISTS ${db}.cdc_changelog_mv`,
    `DROP VIEW IF EXISTS ${db}.cdc_current_mv`,
    `DROP TABLE IF EXISTS ${db}.cdc_queue`,
    `CREATE TABLE ${db}.cdc_queue (
       id Int64, v Nullable(Int32), payload Nullable(String), updated_at Nullable(String),
       __op Nullable(String), __lsn Nullable(Int64), __source_ts_us Nullable(Int64), __ts_us Nullable(Int64), __deleted Nullable(String))
     ENGINE = Kafka SETTINGS
       kafka_broker_list = '${kafkaBrokers}', kafka_topic_list = '${names.topic}', kafka_group_name = '${names.group}',
       kafka_format = 'AvroConfluent', format_avro_schema_registry_url = '${registryUrl}',
       kafka_handle_error_mode = 'stream', kafka_num_consumers = ${k.kafkaNumConsumers},
       kafka_max_block_size = ${k.kafkaMaxBlockSize}, kafka_poll_timeout_ms = ${k.kafkaPollTimeoutMs},
       kafka_flush_interval_ms = ${k.kafkaFlushIntervalMs}, kafka_consumer_reschedule_ms = ${k.kafkaConsumerRescheduleMs}
     COMMENT '${signature.replace(/'/g, "\\'")}'`,
    `CREATE MATERIALIZED VIEW ${db}.cdc_changelog_mv TO ${db}.cdc_changelog AS
     SELECT id, coalesce(__op, '') AS op, toUInt64(coalesce(__lsn, 0)) AS lsn,
            fromUnixTimestamp64Micro(coalesce(__source_ts_us, 0), 'UTC') AS commit_ts,
            fromUnixTimestamp64Micro(coalesce(__ts_us, 0), 'UTC') AS captured_ts,
            coalesce(_timestamp_ms, fromUnixTimestamp64Milli(0, 'UTC')) AS kafka_ts
     FROM ${db}.cdc_queue WHERE length(_error) = 0`,
    `CREATE MATERIALIZED VIEW ${db}.cdc_current_mv TO ${db}.cdc_current AS
     SELECT id, coalesce(v, 0) AS v, coalesce(payload, '') AS payload,
            parseDateTime64BestEffortOrNull(updated_at, 6, 'UTC') AS updated_at,
            fromUnixTimestamp64Micro(coalesce(__source_ts_us, 0), 'UTC') AS commit_ts,
            toUInt64(coalesce(__lsn, 0)) AS version, toUInt8(__deleted = 'true') AS is_deleted
     FROM ${db}.cdc_queue WHERE length(_error) = 0`,
  );
  for (const query of stmts) await ch.command({ query });
  return recreate;
}

/** Register (or update) the bench connector with the tuning overrides applied, through debezium/register.sh. */
export async function ensureConnector(connectUrl: string, tuning: Tuning, log: (m: string) => void): Promise<Record<string, string>> {
  const file = path.join(repoRoot, 'debezium', 'bench-postgres.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as { name: string; config: Record<string, string> };
  const main = JSON.parse(fs.readFileSync(path.join(repoRoot, 'debezium', 'astros-postgres.json'), 'utf8')) as { config: Record<string, string> };
  for (const key of connectorKnobs) {
    const value = main.config[key];
    if (value !== undefined) spec.config[key] = value;
  }
  const o: Record<string, number | string | undefined> = {
    'poll.interval.ms': tuning.pollIntervalMs,
    'max.batch.size': tuning.maxBatchSize,
    'max.queue.size': tuning.maxQueueSize,
    'producer.override.linger.ms': tuning.lingerMs,
    'producer.override.compression.type': tuning.compression,
  };
  for (const [key, value] of Object.entries(o)) if (value !== undefined) spec.config[key] = String(value);
  const set = tuning.connectorSet ?? {};
  spec.config = Object.fromEntries(
    Object.entries({ ...spec.config, ...set }).filter(([, value]) => value !== ''),
  );
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-connector-')), 'bench-postgres.json');
  fs.writeFileSync(tmp, JSON.stringify(spec));
  try {
    await registerConnector(connectUrl, tmp, log);
  } finally {
    fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  }
  return spec.config;
}

export async function setConnectorPaused(connectUrl: string, paused: boolean): Promise<void> {
  const res = await fetch(`${connectUrl}/connectors/${names.connector}/${paused ? 'pause' : 'resume'}`, { method: 'PUT' });
  if (!res.ok && res.status !== 202) throw new Error(`${paused ? 'pausing' : 'resuming'} ${names.connector}: HTTP ${res.status}`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
