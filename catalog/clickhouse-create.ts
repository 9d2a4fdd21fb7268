/** The SQL text of a table's ClickHouse objects (clickhouse-objects.ts): CREATE statements, the change log's backfill, all of a table for people. */
import { formatRetention } from '../shared/duration.ts';
import type { ClickHouseObject, ColumnDef, TableObjects } from './object-types.ts';
import { ident } from './column-types.ts';
import { onCluster } from './on-cluster.ts';

function sqlString(v: string): string {
  return `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function columnList(cols: ColumnDef[]): string {
  const width = Math.max(...cols.map((c) => ident(c.name).length)) + 1;
  return cols
    .map((c) => `    ${ident(c.name).padEnd(width)}${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}${c.comment ? ` COMMENT ${sqlString(c.comment)}` : ''}`)
    .join(',\n');
}

export function orderByClause(cols: string[]): string {
  return cols.length === 1 ? ident(cols[0]!) : `(${cols.map(ident).join(', ')})`;
}

export function createSql(o: ClickHouseObject, ifNotExists = true): string {
  return onCluster(createText(o, ifNotExists), o.cluster);
}

function createText(o: ClickHouseObject, ifNotExists: boolean): string {
  const ine = ifNotExists ? 'IF NOT EXISTS ' : '';
  switch (o.kind) {
    case 'storage':
      return `CREATE TABLE ${ine}${o.name}\n(\n${columnList(o.columns)}\n)\nENGINE = ${o.engine}${o.orderBy.length > 0 ? `\nORDER BY ${orderByClause(o.orderBy)}` : ''}${o.ttl ? `\nTTL ${o.ttl}` : ''}`;
    case 'queue':
      return (
        `CREATE TABLE ${ine}${o.name}\n(\n${columnList(o.columns)}\n)\nENGINE = Kafka\nSETTINGS\n` +
        o.settings.map(([k, v]) => `    ${k} = ${typeof v === 'number' ? String(v) : sqlString(v)}`).join(',\n')
      );
    case 'view':
      return `CREATE MATERIALIZED VIEW ${ine}${o.name} TO ${o.to} AS\n${o.select}`;
  }
}

/** Copies what the per-message record holds into the deduplicated change log (replays collapse there). */
export function backfillChangesSql(t: TableObjects): string {
  const cols = t.changes.columns.map((c) => ident(c.name)).join(', ');
  return `INSERT INTO ${t.changes.name} (${cols})\n${t.changesView.select}`;
}

/** Everything for one table, readable, in the order it is created. */
export function tableSql(t: TableObjects): string {
  const r = t.retention;
  const header = [
    `-- ${t.names.source} -> topic ${t.names.topic} -> ${t.names.queue} (group ${t.names.group})`,
    `-- retention: topic ${formatRetention(r.topicMs)}, ${t.changelog.name} ${formatRetention(r.changelogMs)}, ${t.errors.name} ${formatRetention(r.errorsMs)}; ${t.changes.name} and ${t.current.name} forever`,
  ].join('\n');
  return [header, ...[t.changelog, t.changes, t.current, ...(t.distributed ?? []), t.changesView, t.queue, ...t.views].map((o) => `${createSql(o)};`)].join('\n\n');
}
