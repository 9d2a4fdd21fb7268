/**
 * The ClickHouse objects of one captured table, as data (their SQL: clickhouse-create.ts).
 * Queue, views and targets, as in ClickHouse's own CDC examples:
 *
 *   <t>_queue        Kafka engine, reads the topic (at least once)
 *   <t>_changelog_mv -> <t>_changelog   every Kafka message as delivered, append-only:
 *                                       the per-message record (partition, offset)
 *   <t>_changes_mv   <t>_changelog -> <t>_changes   each committed change once:
 *                                       ReplacingMergeTree ORDER BY (key, lsn)
 *   <t>_current_mv   -> <t>             current state: ReplacingMergeTree(version, is_deleted)
 *   <t>_errors_mv    -> kafka_errors    messages that could not be parsed, with the error
 *
 * The Kafka engine and Debezium deliver at least once: a Connect crash, a
 * consumer crash or a deliberate rewind repeats messages. A change is
 * identified by (table key, source LSN), so
 *
 *  - `SELECT ... FROM astros.<t>_changes FINAL` shows each committed change
 *    exactly once (the documented read of the change log; dbt's staging reads
 *    it). Only columns that every delivery of a change shares are kept there,
 *    so a replay cannot alter what it shows.
 *  - `SELECT ... FROM astros.<t> FINAL` shows exactly the live rows: version =
 *    the LSN, so a late duplicate of an older event never undoes a newer delete.
 *  - `<t>_changelog` keeps every delivery (kafka_partition, kafka_offset of the
 *    table's one topic, captured_ts, ingested_at): duplicates stay visible
 *    there, each accountable to its message.
 *
 * `<t>_changes` is fed from `<t>_changelog` rather than from the queue: every
 * row of the record reaches it by construction, and no view of the queue is
 * added (a queue starts consuming once its first view exists).
 *
 * Retention (catalog/retention.ts): `<t>_changelog` and kafka_errors expire
 * by TTL; `<t>_changes` and the current state never do.
 */
import { ident, mapColumn } from './column-types.ts';
import { clusterShape } from './cluster-shape.ts';
import { queueSettings, type ConsumerOverrides } from './consumer-settings.ts';
import type { SourceTable } from './introspect.ts';
import type { TableDeclaration } from './declaration.ts';
import type { TableNames } from '../shared/names.ts';
import { tableRetention, ttlExpression, type Retention } from './retention.ts';
import type { ColumnDef, QueueObject, ResyncObjects, StorageObject, TableObjects, ViewObject } from './object-types.ts';

export interface SinkSettings {
  kafkaBrokers: string[];
  /** The registry's Confluent-compatible API (…/apis/ccompat/v7). */
  registryUrl: string;
  overrides?: ConsumerOverrides;
  /** The pipeline's retention (config/schema.ts); a declaration may override the change log's and the topic's. */
  retention: Retention;
  /** CLICKHOUSE_CLUSTER: the objects in the cluster shape (catalog/cluster-shape.ts); unset, a single host. */
  cluster?: string;
  /** KAFKA_TOPIC_PARTITIONS: a topic's partitions when its declaration names none (default 1). */
  partitions?: number;
}

/** Debezium fields the connector's ExtractNewRecordState adds (add.fields=op,lsn,source.ts_ms,ts_ms,source.txId; deletes rewritten). */
const debeziumFields: ColumnDef[] = [
  { name: '__op', type: 'Nullable(String)' },
  { name: '__lsn', type: 'Nullable(Int64)' },
  { name: '__source_ts_ms', type: 'Nullable(Int64)' },
  { name: '__ts_ms', type: 'Nullable(Int64)' },
  { name: '__source_txId', type: 'Nullable(Int64)' },
  { name: '__deleted', type: 'Nullable(String)' },
];

const commitTs = "fromUnixTimestamp64Milli(coalesce(__source_ts_ms, 0), 'UTC')";
const lsnExpr = 'toUInt64(coalesce(__lsn, 0))';
const deletedExpr = "toUInt8(__deleted = 'true')";

/** The key: the declaration's, else the primary key; refused when there is neither. */
export function keyColumns(decl: TableDeclaration, src: SourceTable): string[] {
  if (decl.key) {
    const missing = decl.key.filter((k) => !src.columns.some((c) => c.name === k));
    if (missing.length > 0) throw new Error(`${decl.source}: declared key column(s) ${missing.join(', ')} not in the table`);
    return decl.key;
  }
  const pk = src.columns.filter((c) => c.keyPosition !== null).sort((a, b) => a.keyPosition! - b.keyPosition!);
  if (pk.length === 0) throw new Error(`${decl.source} has no primary key: declare "key" in the catalog`);
  return pk.map((c) => c.name);
}

/**
 * A source column whose ClickHouse name is one the pipeline writes itself (op, lsn, version, …),
 * or that two source columns would both produce (`amount` numeric and `amount_text`), would make
 * a table with two columns of one name: refused at derivation, naming the way out.
 */
function refuseClashes(source: string, outputs: string[], own: string[]): void {
  const clash = [...new Set(outputs.filter((n, i) => own.includes(n) || outputs.indexOf(n) !== i))];
  if (clash.length === 0) return;
  throw new Error(
    `${source}: column(s) ${clash.join(', ')} would clash in ClickHouse with ${clash.some((n) => own.includes(n)) ? `the pipeline's own columns (${[...new Set(own)].join(', ')})` : 'another column of the table'}; ` +
      'leave them out with "exclude" in the table\'s declaration, or rename them in Postgres',
  );
}

export function tableObjects(decl: TableDeclaration, src: SourceTable, names: TableNames, sink: SinkSettings): TableObjects {
  const key = keyColumns(decl, src);
  const unknownExcluded = decl.exclude.filter((c) => !src.columns.some((s) => s.name === c));
  if (unknownExcluded.length > 0) throw new Error(`${decl.source}: excluded column(s) ${unknownExcluded.join(', ')} not in the table`);
  const columns = src.columns
    .filter((c) => !decl.exclude.includes(c.name))
    .map((c) => {
      try {
        return mapColumn({ ...c, keyPosition: key.includes(c.name) ? key.indexOf(c.name) + 1 : null }, names.queue.slice(names.database.length + 1));
      } catch (err) {
        throw new Error(`${decl.source}: ${(err as Error).message}`, { cause: err });
      }
    });
  const outputs = columns.flatMap((c) => c.outputs);
  const data = outputs.map((o): ColumnDef => ({ name: o.name, type: o.type }));
  const dataExprs = outputs.map((o) => (o.expr === ident(o.name) ? o.expr : `${o.expr} AS ${ident(o.name)}`));
  const from = `FROM ${names.queue}`;
  const retention = tableRetention(decl.retention, sink.retention);
  const partitions = decl.partitions ?? sink.partitions ?? 1;
  const changelogTtl = ttlExpression('ingested_at', retention.changelogMs);
  const errorsTtl = ttlExpression('received_at', retention.errorsMs);

  const changelog: StorageObject = {
    kind: 'storage',
    name: names.changelog,
    columns: [
      ...data,
      { name: 'op', type: 'LowCardinality(String)', comment: 'c insert, u update, d delete, r snapshot read' },
      { name: 'is_deleted', type: 'UInt8' },
      { name: 'lsn', type: 'UInt64', comment: 'Postgres LSN of the change (orders changes)' },
      { name: 'tx_id', type: 'Nullable(UInt64)' },
      { name: 'commit_ts', type: "DateTime64(3, 'UTC')", comment: 'commit time in Postgres (source.ts_ms)' },
      { name: 'captured_ts', type: "DateTime64(3, 'UTC')", comment: 'when Debezium processed the event' },
      { name: 'kafka_partition', type: 'UInt32' },
      { name: 'kafka_offset', type: 'UInt64' },
      { name: 'ingested_at', type: "DateTime64(3, 'UTC')", default: 'now64(3)' },
    ],
    engine: 'MergeTree',
    orderBy: [...key, 'lsn', 'kafka_offset'],
    ...(changelogTtl ? { ttl: changelogTtl } : {}),
  };
  // What every delivery of one change shares: the data, op, lsn, transaction and commit time.
  // No TTL: the SCD2 history is built from here, and an expired insert would drop a live key from it.
  const changeColumns = [...data.map((c) => c.name), 'op', 'is_deleted', 'lsn', 'tx_id', 'commit_ts'];
  const changes: StorageObject = {
    kind: 'storage',
    name: names.changes,
    columns: changelog.columns.filter((c) => changeColumns.includes(c.name)),
    engine: 'ReplacingMergeTree',
    orderBy: [...key, 'lsn'],
  };
  const changesView: ViewObject = {
    kind: 'view',
    name: names.changesMv,
    to: names.changes,
    select: `SELECT\n${changeColumns.map((c) => `    ${ident(c)}`).join(',\n')}\nFROM ${names.changelog}`,
  };
  const current: StorageObject = {
    kind: 'storage',
    name: names.current,
    columns: [
      ...data,
      { name: 'commit_ts', type: "DateTime64(3, 'UTC')" },
      { name: 'version', type: 'UInt64', comment: 'source LSN of the change that produced this row' },
      { name: 'is_deleted', type: 'UInt8' },
    ],
    engine: 'ReplacingMergeTree(version, is_deleted)',
    orderBy: key,
  };
  refuseClashes(decl.source, outputs.map((o) => o.name), [...changelog.columns.slice(data.length), ...current.columns.slice(data.length), ...debeziumFields].map((c) => c.name));
  const queue: QueueObject = {
    kind: 'queue',
    name: names.queue,
    columns: [...columns.map((c) => ({ name: c.source.name, type: c.queueType })), ...debeziumFields],
    settings: queueSettings({ brokers: sink.kafkaBrokers.join(','), topic: names.topic, group: names.group, registryUrl: sink.registryUrl }, sink.overrides, partitions),
  };
  const currentSelect = (source: string, where: string) =>
    ['SELECT', [...dataExprs, `${commitTs} AS commit_ts`, `${lsnExpr} AS version`, `${deletedExpr} AS is_deleted`].map((e) => `    ${e}`).join(',\n'), source, ...(where ? [where] : [])].join('\n');
  const queueShort = names.queue.slice(names.database.length + 1);
  const resync: ResyncObjects = {
    input: { kind: 'storage', name: names.resyncInput, columns: queue.columns, engine: 'Null', orderBy: [] },
    shadow: { ...current, name: names.resyncShadow },
    // Aliased as the queue: expressions that read a queue column by its qualified name work unchanged.
    view: { kind: 'view', name: names.resyncMv, to: names.resyncShadow, select: currentSelect(`FROM ${names.resyncInput} AS ${ident(queueShort)}`, '') },
    loadColumns: columns.map((c) => c.source.name),
  };
  const views: ViewObject[] = [
    {
      kind: 'view',
      name: names.changelogMv,
      to: names.changelog,
      select: [
        'SELECT',
        [
          ...dataExprs,
          "coalesce(__op, '') AS op",
          `${deletedExpr} AS is_deleted`,
          `${lsnExpr} AS lsn`,
          'toUInt64OrNull(toString(__source_txId)) AS tx_id',
          `${commitTs} AS commit_ts`,
          "fromUnixTimestamp64Milli(coalesce(__ts_ms, 0), 'UTC') AS captured_ts",
          '_partition AS kafka_partition',
          '_offset AS kafka_offset',
        ]
          .map((e) => `    ${e}`)
          .join(',\n'),
        from,
        'WHERE length(_error) = 0',
      ].join('\n'),
    },
    {
      kind: 'view',
      name: names.currentMv,
      to: names.current,
      select: currentSelect(from, 'WHERE length(_error) = 0'),
    },
    {
      kind: 'view',
      name: names.errorsMv,
      to: names.errors,
      select: `SELECT _topic AS topic, _partition AS partition, _offset AS offset, _raw_message AS raw_message, _error AS error\n${from}\nWHERE length(_error) > 0`,
    },
  ];
  const single: TableObjects = { names, key, columns, changelog, changes, current, changesView, queue, views, retention, partitions, errors: { name: names.errors, ...(errorsTtl ? { ttl: errorsTtl } : {}) }, resync };
  return sink.cluster === undefined ? single : clusterShape(single, sink.cluster);
}
