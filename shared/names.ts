/**
 * The names that tie the pipeline together, written once: the connector's
 * identity (name, slot, publication, topic prefix: the generated
 * debezium/astros-postgres.json carries them, see catalog/connector.ts), the
 * CDC role, the ClickHouse databases and shared tables, and everything per
 * table (derived below). The SQL files take theirs through placeholders
 * (connectors/postgres/migrate.ts, connectors/clickhouse/migrate.ts); the
 * files that cannot (db/init, docker's init script) are checked by a unit test.
 *
 * The ground floor: no Node built-ins, no I/O (workflow code imports it).
 */

export const pipelineNames = {
  /** The default group's Debezium connector registered with Kafka Connect (other groups: groupNames). */
  connector: 'astros-postgres',
  /** The default group's logical replication slot. */
  slot: 'astros_debezium',
  /** The default group's publication (publication.autocreate.mode=disabled: the catalog manages membership). */
  publication: 'astros_publication',
  /** Its topics are <prefix>.<schema>.<table>. */
  topicPrefix: 'astros',
  /** Debezium's Postgres login: REPLICATION, SELECT on the captured tables only. */
  cdcRole: 'astros_cdc',
  /** ClickHouse database holding every captured table's objects and kafka_errors. */
  clickhouseDatabase: 'astros',
  /** ClickHouse database of the pipeline's bookkeeping (applied migrations, object fingerprints). */
  metaDatabase: 'astros_meta',
  /** Shared dead-letter table for messages ClickHouse could not parse. */
  kafkaErrorsTable: 'kafka_errors',
  /** Written by the default group's heartbeat.action.query; published, never captured. */
  heartbeatTable: 'public.cdc_heartbeat',
  /** Every other group's heartbeat: one row per group (db/migrations/postgres/190); in that group's publication only. */
  groupHeartbeatTable: 'public.cdc_group_heartbeat',
  /** The connector's signal.data.collection (db/migrations/postgres/120): incremental snapshots start here; published, never captured. */
  signalTable: 'public.cdc_signal',
  /** The live catalog in Postgres (db/migrations/postgres/110_captured_tables.sql). */
  catalogTable: 'public.captured_tables',
  /** Per table, the WAL ranges whose changes were not captured (a lost or missing slot), in clickhouseDatabase. */
  captureGapsTable: 'capture_gaps',
  defaultGroupPrefix: 'clickhouse',
} as const;

/** The group every table belongs to unless it names another: the tables captured before groups existed. */
export const DEFAULT_GROUP = 'default';

/** A group's name: part of a slot, publication and connector name (Postgres identifiers, Connect's URLs). */
export const GROUP_NAME = /^[a-z][a-z0-9_]{0,29}$/;

/**
 * Everything named after one table group: its own publication, replication slot, Debezium connector and
 * heartbeat (so an idle group's slot keeps moving). The default group's names are the names the pipeline
 * had before groups existed, so a stack built then is adopted as it is: same connector (Connect keys its
 * stored offsets by the connector's name), slot, publication and topics. A group reads the pipeline's
 * database unless ASTROS_GROUP_DATABASES names its own (config/load.ts); its names are the same either way. Another group's connector has its own topic prefix (Debezium's logical name: its
 * metrics are registered under it, and two connectors of one name wait for each other), and routes its
 * topics back to the pipeline's prefix (catalog/connector.ts): a table's topic, consumer group and
 * ClickHouse objects never depend on its group, and a table moved between groups keeps them.
 */
export interface GroupNames {
  group: string;
  connector: string;
  slot: string;
  publication: string;
  /** Debezium's topic.prefix (its logical name); the topics it writes are routed to `<pipeline prefix>.<schema>.<table>`. */
  topicPrefix: string;
  /** The table the connector's heartbeat.action.query writes, and the row (undefined: the whole one-row table). */
  heartbeatTable: string;
  heartbeatRow?: string;
  /** Debezium's signal table: the default group's only (incremental snapshots on request). */
  signalTable?: string;
}

export function checkGroupName(group: string): string {
  if (!GROUP_NAME.test(group)) throw new Error(`"${group}" is not a group name: a lower-case letter, then up to 29 lower-case letters, digits or _`);
  return group;
}

export function groupNames(group: string = DEFAULT_GROUP): GroupNames {
  if (group === DEFAULT_GROUP) {
    const p = pipelineNames;
    return { group, connector: p.connector, slot: p.slot, publication: p.publication, topicPrefix: p.topicPrefix, heartbeatTable: p.heartbeatTable, signalTable: p.signalTable };
  }
  checkGroupName(group);
  return {
    group,
    connector: `${pipelineNames.connector}-${group}`,
    slot: `${pipelineNames.slot}_${group}`,
    publication: `${pipelineNames.publication}_${group}`,
    topicPrefix: `${pipelineNames.topicPrefix}_${group}`,
    heartbeatTable: pipelineNames.groupHeartbeatTable,
    heartbeatRow: group,
  };
}

/** The group of a connector, slot or publication named by groupNames (undefined: none of a group's). */
export function groupOfSlot(slot: string): string | undefined {
  if (slot === pipelineNames.slot) return DEFAULT_GROUP;
  const m = new RegExp(`^${pipelineNames.slot}_([a-z][a-z0-9_]*)$`).exec(slot);
  return m && GROUP_NAME.test(m[1]!) ? m[1] : undefined;
}

/**
 * The ClickHouse hosts of a replica set (CLICKHOUSE_URL, then CLICKHOUSE_REPLICA_URLS): ch1, ch2, ... Each
 * consumes every topic in consumer groups of its own (Kafka is the replication log), so each holds all the
 * data. The first host keeps the pipeline's group prefix: a stack that had one host adopts the set with
 * nothing read again; another host's groups are `<prefix>-<replica>-<table>`.
 */
export const replicaName = (index: number): string => `ch${index + 1}`;

export const REPLICA_NAME = /^ch[1-9][0-9]?$/;

export function replicaGroupPrefix(groupPrefix: string, index: number): string {
  return index === 0 ? groupPrefix : `${groupPrefix}-${replicaName(index)}`;
}

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
  /** A first load's change history, written from the shadow during the load, moved into `changes` at completion. */
  resyncHistory: string;
  resyncHistoryMv: string;
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
    resyncHistory: `${db}.${base}_resync_history`,
    resyncHistoryMv: `${db}.${base}_resync_history_mv`,
  };
}

/** The views that read a table's queue (the queue consumes while any exists), in the order to drop them. */
export const queueViewsDropOrder = (n: TableNames): string[] => [n.errorsMv, n.currentMv, n.changelogMv];

/** Every object of a table in the order they can be dropped: views first (the queue stops reading), then the queue and the tables. */
export function dropOrder(n: TableNames): { kind: 'VIEW' | 'TABLE'; name: string }[] {
  return [
    ...[n.changesMv, n.changelogMv, n.currentMv, n.errorsMv, n.resyncMv, n.resyncHistoryMv].map((name) => ({ kind: 'VIEW' as const, name })),
    ...[n.queue, n.changes, n.changelog, n.current, n.resyncInput, n.resyncShadow, n.resyncHistory].map((name) => ({ kind: 'TABLE' as const, name })),
  ];
}
