/**
 * The names that tie the pipeline together, in one place. The connector's own
 * identity (name, slot, publication, topic prefix) is read from the connector
 * file users register with curl (debezium/astros-postgres.json), so the file
 * and the code can never disagree; everything per table is derived here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const connectorFile = path.join(repoRoot, 'debezium', 'astros-postgres.json');

export interface ConnectorSpec {
  name: string;
  config: Record<string, string>;
}

export function readConnectorFile(file = connectorFile): ConnectorSpec {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ConnectorSpec;
}

function required(config: Record<string, string>, key: string): string {
  const v = config[key];
  if (v === undefined || v === '') throw new Error(`${path.relative(repoRoot, connectorFile)} has no "${key}"`);
  return v;
}

const connector = readConnectorFile();

export const pipelineNames = {
  connector: connector.name,
  slot: required(connector.config, 'slot.name'),
  publication: required(connector.config, 'publication.name'),
  topicPrefix: required(connector.config, 'topic.prefix'),
  /** ClickHouse database holding every captured table's objects and kafka_errors. */
  clickhouseDatabase: 'astros',
  /** ClickHouse database of the pipeline's bookkeeping (applied migrations, object fingerprints). */
  metaDatabase: 'astros_meta',
  /** Shared dead-letter table for messages ClickHouse could not parse. */
  kafkaErrorsTable: 'kafka_errors',
  /** Written by the connector's heartbeat.action.query; published, never captured. */
  heartbeatTable: 'public.cdc_heartbeat',
  /** The connector's signal.data.collection (db/migrations/postgres/120): incremental snapshots start here; published, never captured. */
  signalTable: 'public.cdc_signal',
  /** The live catalog in Postgres (db/migrations/postgres/110_captured_tables.sql). */
  catalogTable: 'public.captured_tables',
  defaultGroupPrefix: 'clickhouse',
} as const;

/** Every object of one captured table, by its role. */
export interface TableNames {
  /** `schema.table` in Postgres. */
  source: string;
  schema: string;
  table: string;
  /** Base name in ClickHouse: the table's name for `public`, else `schema__table`. */
  base: string;
  topic: string;
  group: string;
  database: string;
  queue: string;
  /** Every Kafka message as delivered (append-only, at least once): the per-message record. */
  changelog: string;
  /** Each committed change once: ReplacingMergeTree keyed by (table key, lsn), read with FINAL. */
  changes: string;
  current: string;
  changelogMv: string;
  /** Feeds `changes` from `changelog` (not from the queue). */
  changesMv: string;
  currentMv: string;
  errorsMv: string;
  errors: string;
  /** A resync's shadow copy of `current` (swapped in with EXCHANGE TABLES), its Null input table and view. */
  resyncShadow: string;
  resyncInput: string;
  resyncMv: string;
}

export interface NameOptions {
  /** ClickHouse consumer group prefix (CLICKHOUSE_KAFKA_GROUP_PREFIX). */
  groupPrefix?: string;
  /** ClickHouse database (tests and the bench use their own). */
  database?: string;
  topicPrefix?: string;
}

export function splitSource(source: string): { schema: string; table: string } {
  const m = /^([a-z_][a-z0-9_$]*)\.([a-z_][a-z0-9_$]*)$/.exec(source);
  if (!m) throw new Error(`"${source}" is not a schema.table name (lower-case, unquoted Postgres identifiers)`);
  return { schema: m[1]!, table: m[2]! };
}

export function tableNames(source: string, opts: NameOptions = {}): TableNames {
  const { schema, table } = splitSource(source);
  const base = schema === 'public' ? table : `${schema}__${table}`;
  const db = opts.database ?? pipelineNames.clickhouseDatabase;
  return {
    source,
    schema,
    table,
    base,
    topic: `${opts.topicPrefix ?? pipelineNames.topicPrefix}.${schema}.${table}`,
    // Hyphens: the groups the first hand-written DDL created (clickhouse-cdc-types-probe) keep their offsets.
    group: `${opts.groupPrefix ?? pipelineNames.defaultGroupPrefix}-${base.replaceAll('_', '-')}`,
    database: db,
    queue: `${db}.${base}_queue`,
    changelog: `${db}.${base}_changelog`,
    changes: `${db}.${base}_changes`,
    current: `${db}.${base}`,
    changelogMv: `${db}.${base}_changelog_mv`,
    changesMv: `${db}.${base}_changes_mv`,
    currentMv: `${db}.${base}_current_mv`,
    errorsMv: `${db}.${base}_errors_mv`,
    errors: `${db}.${pipelineNames.kafkaErrorsTable}`,
    resyncShadow: `${db}.${base}_resync`,
    resyncInput: `${db}.${base}_resync_input`,
    resyncMv: `${db}.${base}_resync_mv`,
  };
}

/** The views that read a table's queue (the queue consumes while any exists), in the order to drop them. */
export const queueViewsDropOrder = (n: TableNames): string[] => [n.errorsMv, n.currentMv, n.changelogMv];

/** Every object of a table in the order they can be dropped: views first (the queue stops reading), then the queue and the tables. */
export function dropOrder(n: TableNames): { kind: 'VIEW' | 'TABLE'; name: string }[] {
  return [
    ...[n.changesMv, n.changelogMv, n.currentMv, n.errorsMv, n.resyncMv].map((name) => ({ kind: 'VIEW' as const, name })),
    ...[n.queue, n.changes, n.changelog, n.current, n.resyncInput, n.resyncShadow].map((name) => ({ kind: 'TABLE' as const, name })),
  ];
}
