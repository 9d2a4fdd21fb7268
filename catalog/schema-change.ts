/**
 * What one ALTER TABLE of a captured table means for its ClickHouse copy, as
 * data (activities/schema-changes.ts applies it). Pure.
 *
 * Inputs: the table's shape before and after the command, as the event
 * trigger recorded it (db/init/30_schema_changes.sql: columns by attnum),
 * the objects the catalog now derives from Postgres, and the columns the
 * ClickHouse current-state table has. Renames are told apart from a drop and
 * an add by the attnum (Debezium sees only a field that went and one that
 * came); types are judged by what ClickHouse holds against what the catalog
 * now derives, so a change back to a type ClickHouse already holds needs
 * nothing.
 */
import { ident, mapColumn, possibleOutputNames } from './column-types.ts';
import type { TableObjects } from './object-types.ts';
import { localName } from './cluster-shape.ts';
import { onCluster } from './on-cluster.ts';
import { formatRetention } from '../shared/duration.ts';

export interface ShapeColumn {
  attnum: number;
  name: string;
  type: string;
  notnull: boolean;
  default: string | null;
  /** Rows written before the column existed read a constant Postgres stored (ADD COLUMN … DEFAULT <constant>). */
  missing: boolean;
}

export interface TableShape {
  columns: ShapeColumn[];
  key: string[];
  identity: string;
}

export type SchemaStep =
  /** `fill`: what rows older than the column hold in Postgres: NULL, a stored constant, or per-row values (a volatile default rewrote the table). */
  | { kind: 'add'; column: string; fill: 'null' | 'constant' | 'rewrite' }
  | { kind: 'rename'; from: string; to: string; outputs: [string, string][] }
  | { kind: 'drop'; column: string; outputs: string[] }
  | { kind: 'widen'; column: string; from: string; to: string };

export interface SchemaPlan {
  steps: SchemaStep[];
  /** Why the change cannot be applied (the table's stream stops), or undefined. */
  refused?: string;
  /** Rows already in ClickHouse need values only Postgres has: the table is loaded again (resync). */
  reload: boolean;
}

const nullable = /^Nullable\((.*)\)$/;
const bare = (t: string): string => nullable.exec(t)?.[1] ?? t;
const ints = ['Int8', 'Int16', 'Int32', 'Int64'];
const decimal = /^Decimal\((\d+), (\d+)\)$/;

/** Whether ClickHouse can turn a column of type `from` into `to` without losing a value. */
export function widens(from: string, to: string): boolean {
  if (from === to) return true;
  if (nullable.test(from) && !nullable.test(to)) return false;
  const [f, t] = [bare(from), bare(to)];
  if (f === t) return true;
  if (ints.includes(f) && ints.includes(t)) return ints.indexOf(t) >= ints.indexOf(f);
  const [df, dt] = [decimal.exec(f), decimal.exec(t)];
  if (df && dt) return df[2] === dt[2] && Number(dt[1]) >= Number(df[1]);
  if (ints.includes(f) && dt) return Number(dt[1]) - Number(dt[2]) >= [3, 5, 10, 19][ints.indexOf(f)]!;
  return false;
}

/** The ClickHouse columns a source column becomes, under a given name. */
function outputsOf(t: TableObjects, column: string, as: string): string[] {
  const mapped = t.columns.find((c) => c.source.name === column);
  if (!mapped) return [];
  return mapColumn({ ...mapped.source, name: as }, 'q').outputs.map((o) => o.name);
}

export function planSchemaChange(before: TableShape | undefined, after: TableShape, t: TableObjects, live: { name: string; type: string }[], liveKey: string): SchemaPlan {
  const steps: SchemaStep[] = [];
  const refuse = (why: string): SchemaPlan => ({ steps, refused: why, reload: false });
  const key = t.current.orderBy.join(', ');
  if (liveKey && liveKey !== key) {
    return refuse(`its key changed (ClickHouse's copy is ordered by ${liveKey}, the table's key is now ${key}); the copy must be rebuilt under the new key`);
  }
  if (before && JSON.stringify(before.key) !== JSON.stringify(after.key)) {
    return refuse(`its primary key changed from (${before.key.join(', ')}) to (${after.key.join(', ')}); the copy must be rebuilt under the new key`);
  }
  const has = new Map(live.map((c) => [c.name, c.type]));
  const old = new Map((before?.columns ?? []).map((c) => [c.attnum, c]));
  const now = new Map(after.columns.map((c) => [c.attnum, c]));

  for (const c of after.columns) {
    const was = old.get(c.attnum);
    if (was && was.name !== c.name) {
      const from = outputsOf(t, c.name, was.name);
      const to = outputsOf(t, c.name, c.name);
      const outputs = from.map((f, i): [string, string] => [f, to[i]!]);
      steps.push({ kind: 'rename', from: was.name, to: c.name, outputs });
      // ClickHouse holds the renamed columns under their new names once the step is applied.
      for (const [f, n] of outputs) {
        const type = has.get(f);
        if (type === undefined) continue;
        has.set(n, type);
        has.delete(f);
      }
    } else if (!was && before) {
      steps.push({ kind: 'add', column: c.name, fill: c.missing ? 'constant' : c.default !== null ? 'rewrite' : 'null' });
    }
  }
  for (const [attnum, c] of old) {
    if (!now.has(attnum)) steps.push({ kind: 'drop', column: c.name, outputs: possibleOutputNames(c.name).filter((n) => has.has(n)) });
  }
  // Types: what ClickHouse holds against what the catalog now derives, column by column.
  for (const col of t.current.columns) {
    const have = has.get(col.name);
    if (have === undefined || have === col.type) continue;
    const source = t.columns.find((m) => m.outputs.some((o) => o.name === col.name))?.source;
    if (!widens(have, col.type)) {
      return refuse(`column ${col.name} changed type${source ? ` (now ${source.type} in Postgres)` : ''}: ClickHouse holds ${have} and cannot take ${col.type} without losing values`);
    }
    steps.push({ kind: 'widen', column: col.name, from: have, to: col.type });
  }
  // Added columns nobody recorded a shape for (no `before`): whatever ClickHouse lacks.
  if (!before) {
    for (const m of t.columns) if (!m.outputs.some((o) => has.has(o.name))) steps.push({ kind: 'add', column: m.source.name, fill: 'rewrite' });
  }
  // A rename reloads too: events written before it and read after it carry the old field name, which
  // the queue no longer has, so rows whose last change precedes it would read NULL.
  return { steps, reload: steps.some((s) => (s.kind === 'add' && s.fill !== 'null') || s.kind === 'rename') };
}

/** One ALTER of a plan's storage steps; `mutation`: it rewrites parts (applied with mutations_sync so it is done when it returns). */
export interface StorageStatement {
  sql: string;
  mutation: boolean;
}

/**
 * The ALTERs that apply a plan's renames, widenings and drops to the table's storage: the change log,
 * the changes and the current state. On a cluster (t.cluster) the data tables are the `_local` ones and
 * the Distributed tables under the usual names carry the same columns: each step alters both, the local
 * tables first, every statement ON CLUSTER so each server applies it. One host: the three tables, as is.
 */
export function storageStatements(t: TableObjects, plan: SchemaPlan): StorageStatement[] {
  const current = [t.current.name];
  const all = [t.changelog.name, t.changes.name, t.current.name];
  // The tables named, then the Distributed tables over them (none on one host).
  const plain = (tables: string[]) => [...tables, ...(t.distributed ?? []).filter((d) => tables.includes(localName(d.name))).map((d) => d.name)];
  const out: StorageStatement[] = [];
  const alter = (tables: string[], tail: string, mutation: boolean) => {
    for (const table of plain(tables)) out.push({ sql: onCluster(`ALTER TABLE ${table} ${tail}`, t.cluster), mutation });
  };
  for (const st of plan.steps) {
    if (st.kind === 'rename') for (const [from, to] of st.outputs) alter(all, `RENAME COLUMN IF EXISTS ${ident(from)} TO ${ident(to)}`, false);
    else if (st.kind === 'widen') alter(all, `MODIFY COLUMN IF EXISTS ${ident(st.column)} ${st.to}`, true);
    else if (st.kind === 'drop') for (const c of st.outputs) alter(current, `DROP COLUMN IF EXISTS ${ident(c)}`, true);
  }
  return out;
}

export function describeStep(s: SchemaStep): string {
  switch (s.kind) {
    case 'add':
      return `add column ${s.column}${s.fill === 'constant' ? ' (rows before it read a constant default: the table is loaded again)' : s.fill === 'rewrite' ? ' (its default rewrote every row: the table is loaded again)' : ''}`;
    case 'rename':
      return `rename column ${s.from} to ${s.to} (events written before it carry the old name: the table is loaded again)`;
    case 'drop':
      return `drop column ${s.column} from the current state (the change log keeps its values)`;
    case 'widen':
      return `widen column ${s.column} from ${s.from} to ${s.to}`;
  }
}

/** The same columns (attnum, name, type) and key: what ClickHouse's copy depends on. */
export function sameColumns(a: TableShape, b: TableShape): boolean {
  const cols = (s: TableShape) => JSON.stringify([s.columns.map((c) => [c.attnum, c.name, c.type]), s.key]);
  return cols(a) === cols(b);
}

/** One line: the table, the change, why not, and the fix; how long Kafka keeps its events meanwhile. */
export function refusalMessage(row: { source: string; ddl: string }, why: string, topicRetentionMs: number): string {
  const ddl = row.ddl.replace(/\s+/g, ' ').trim().slice(0, 200);
  const kept = ` (the topic keeps them for ${formatRetention(topicRetentionMs)})`;
  return (
    `${row.source}: schema change refused: ${why}. The change: ${ddl}. Its stream is stopped and its changes wait in Kafka${kept}; ` +
    `fix: undo the change in Postgres and run npm run tables -- resume ${row.source}, or rebuild the copy: npm run tables -- remove ${row.source} --drop, then npm run tables -- add ${row.source}`
  );
}
