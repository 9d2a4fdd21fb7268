/**
 * Bring ClickHouse to the objects the catalog derives, without losing data or
 * re-reading a topic:
 *
 *  - storage (change log, current state): created when missing; a column the
 *    source gained is added (never dropped or retyped: a difference there is
 *    reported as drift, because the data would not survive it); column
 *    comments follow the generator.
 *  - queue and views: compared with what ClickHouse reports (columns, engine
 *    settings, the views' normalised SELECT and target). Any difference
 *    recreates the whole consumer: views dropped first (the queue stops
 *    reading once none is left; offsets are committed only after the views
 *    have written a block), the queue dropped and created again with the same
 *    consumer group (its committed offsets live in Kafka, so it resumes where
 *    the old one stopped) after its views: see placeholderQueue.
 *  - the deduplicated change log (`<t>_changes`) is fed by a view of the
 *    per-message record (`<t>_changelog`), never of the queue, so creating or
 *    recreating that view leaves the consumer alone. Whenever the view is
 *    (re)created on a record that already existed, the record is copied into
 *    `<t>_changes` once, after the view exists: rows the record received
 *    before (a stack older than `<t>_changes`) or while the view was being
 *    replaced are covered, and anything copied twice collapses on (key, lsn).
 *  - retention: the change log's and kafka_errors' TTL follow the settings
 *    (ALTER TABLE ... MODIFY TTL / REMOVE TTL; ClickHouse then rewrites the
 *    existing parts once, deleting what expired). Applied last, after any
 *    copy of the record into `<t>_changes`, so a stack adopting both never
 *    loses history to the new TTL. A TTL on `<t>_changes` or the current
 *    state, which must never expire, is removed and reported as drift.
 *  - objects that match are left alone: a stack built by the first,
 *    hand-written DDL keeps its queue, views, record and current state as
 *    they are (nothing re-read) and gains `<t>_changes`, backfilled once.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { backfillChangesSql, createSql } from './clickhouse-create.ts';
import type { ColumnDef, QueueObject, StorageObject, TableObjects, ViewObject } from './object-types.ts';
import { ident } from './column-types.ts';
import { onCluster } from './on-cluster.ts';
import { placeholderQueue } from './queue-placeholder.ts';
import { createOnlyQueueSettings } from './consumer-settings.ts';
import { ttlOf } from './retention.ts';

export interface LiveTable {
  name: string;
  engine: string;
  engineFull: string;
  createQuery: string;
  asSelect: string;
  sortingKey: string;
  columns: { name: string; type: string; comment: string }[];
}

export type Action =
  | { kind: 'create'; object: string; sql: string }
  | { kind: 'add-column'; object: string; sql: string }
  | { kind: 'comment'; object: string; sql: string }
  | { kind: 'ttl'; object: string; detail: string; sql: string }
  | { kind: 'feed-changes'; object: string; reason: string; backfill: boolean; sql: string[] }
  | { kind: 'create-consumer'; object: string; sql: string[] }
  | { kind: 'recreate-consumer'; object: string; reason: string; sql: string[] }
  | { kind: 'drift'; object: string; detail: string };

export interface TablePlan {
  table: string;
  actions: Action[];
  /** Applied ON CLUSTER this cluster (on-cluster.ts), every statement. */
  cluster?: string;
}

async function rows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

export async function liveTables(ch: ClickHouseClient, database: string): Promise<Map<string, LiveTable>> {
  const tables = await rows<{ name: string; engine: string; engine_full: string; create_table_query: string; as_select: string; sorting_key: string }>(
    ch,
    `SELECT name, engine, engine_full, create_table_query, as_select, sorting_key FROM system.tables WHERE database = {db:String}`,
    { db: database },
  );
  const cols = await rows<{ table: string; name: string; type: string; comment: string }>(
    ch,
    `SELECT table, name, type, comment FROM system.columns WHERE database = {db:String} ORDER BY table, position`,
    { db: database },
  );
  const out = new Map<string, LiveTable>();
  for (const t of tables) {
    out.set(`${database}.${t.name}`, {
      name: `${database}.${t.name}`,
      engine: t.engine,
      engineFull: t.engine_full,
      createQuery: t.create_table_query,
      asSelect: t.as_select,
      sortingKey: t.sorting_key,
      columns: cols.filter((c) => c.table === t.name).map(({ name, type, comment }) => ({ name, type, comment })),
    });
  }
  return out;
}

/** `Kafka SETTINGS a = 'x', b = 1` -> { a: 'x', b: '1' } */
export function parseEngineSettings(engineFull: string): Record<string, string> {
  const at = engineFull.indexOf(' SETTINGS ');
  const out: Record<string, string> = {};
  if (at < 0) return out;
  const re = /(\w+) = ('(?:[^'\\]|\\.)*'|[^,\s]+)/g;
  for (const m of engineFull.slice(at + 10).matchAll(re)) {
    const raw = m[2]!;
    out[m[1]!] = raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  return out;
}

function columnsDiffer(want: ColumnDef[], live: LiveTable): string | null {
  const w = want.map((c) => `${c.name} ${c.type}`).join(', ');
  const l = live.columns.map((c) => `${c.name} ${c.type}`).join(', ');
  return w === l ? null : `columns (${l}) -> (${w})`;
}

function queueDiff(q: QueueObject, live: LiveTable): string | null {
  if (live.engine !== 'Kafka') return `engine ${live.engine}, expected Kafka`;
  const cols = columnsDiffer(q.columns, live);
  if (cols) return cols;
  const have = parseEngineSettings(live.engineFull);
  const changed = q.settings.filter(([k, v]) => have[k] !== String(v) && !createOnlyQueueSettings.has(k)).map(([k, v]) => `${k} ${have[k] ?? '(unset)'} -> ${v}`);
  const extra = Object.keys(have).filter((k) => !q.settings.some(([s]) => s === k));
  if (changed.length + extra.length === 0) return null;
  return [...changed, ...extra.map((k) => `${k} ${have[k]} -> (unset)`)].join(', ');
}

async function viewDiff(ch: ClickHouseClient, v: ViewObject, live: LiveTable): Promise<string | null> {
  if (live.engine !== 'MaterializedView') return `engine ${live.engine}, expected MaterializedView`;
  const to = / TO (\S+)/.exec(live.createQuery)?.[1]?.replaceAll('`', '');
  if (to !== v.to) return `writes to ${to ?? '?'}, expected ${v.to}`;
  const [r] = await rows<{ want: string; have: string }>(ch, 'SELECT formatQuerySingleLine({w:String}) AS want, formatQuerySingleLine({h:String}) AS have', {
    w: v.select,
    h: live.asSelect,
  });
  return r && r.want === r.have ? null : `SELECT changed`;
}

function storageActions(s: StorageObject, live: LiveTable | undefined): Action[] {
  if (!live) return [{ kind: 'create', object: s.name, sql: createSql(s) }];
  const actions: Action[] = [];
  const engine = live.engineFull.split(' ORDER BY ')[0] ?? '';
  if (engine.replaceAll(' ', '') !== s.engine.replaceAll(' ', '')) actions.push({ kind: 'drift', object: s.name, detail: `engine is ${engine}, the catalog derives ${s.engine}` });
  const sorting = s.orderBy.join(', ');
  if (live.sortingKey !== sorting) actions.push({ kind: 'drift', object: s.name, detail: `ORDER BY ${live.sortingKey}, the catalog derives ${sorting}` });
  s.columns.forEach((c, i) => {
    const have = live.columns.find((x) => x.name === c.name);
    if (!have) {
      const after = i > 0 ? ` AFTER ${ident(s.columns[i - 1]!.name)}` : ' FIRST';
      actions.push({ kind: 'add-column', object: s.name, sql: `ALTER TABLE ${s.name} ADD COLUMN IF NOT EXISTS ${ident(c.name)} ${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}${after}` });
    } else if (have.type !== c.type) {
      actions.push({ kind: 'drift', object: s.name, detail: `column ${c.name} is ${have.type}, the catalog derives ${c.type} (kept: retyping needs a resync)` });
    } else if (have.comment !== (c.comment ?? '')) {
      actions.push({ kind: 'comment', object: s.name, sql: `ALTER TABLE ${s.name} COMMENT COLUMN ${ident(c.name)} '${(c.comment ?? '').replaceAll("'", "\\'")}'` });
    }
  });
  for (const x of live.columns) {
    if (!s.columns.some((c) => c.name === x.name)) actions.push({ kind: 'drift', object: s.name, detail: `column ${x.name} is no longer derived (kept with its data)` });
  }
  return actions;
}

/** Whether two TTL expressions are the same once ClickHouse formats them (`INTERVAL 30 DAY` is `toIntervalDay(30)`). */
async function sameTtl(ch: ClickHouseClient, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  try {
    const [r] = await rows<{ a: string; b: string }>(ch, 'SELECT formatQuerySingleLine({a:String}) AS a, formatQuerySingleLine({b:String}) AS b', { a: `SELECT ${a}`, b: `SELECT ${b}` });
    return r !== undefined && r.a === r.b;
  } catch {
    return false; // not a plain expression (e.g. a TTL with TO VOLUME): not ours
  }
}

/**
 * The TTL a table should have against the one it has. `neverExpires` names
 * why a table must keep every row (no TTL is ever derived for it): a TTL
 * found there is removed and reported.
 */
export async function ttlActions(ch: ClickHouseClient, name: string, want: string | undefined, live: LiveTable | undefined, neverExpires?: string): Promise<Action[]> {
  if (!live) return []; // created with its TTL
  const have = ttlOf(live.engineFull);
  if (have === undefined && want === undefined) return [];
  if (have !== undefined && want !== undefined && (await sameTtl(ch, have, want))) return [];
  if (want === undefined) {
    const remove: Action = { kind: 'ttl', object: name, detail: `remove TTL ${have}`, sql: `ALTER TABLE ${name} REMOVE TTL` };
    return neverExpires ? [{ kind: 'drift', object: name, detail: `had TTL ${have}, removed: ${neverExpires}` }, remove] : [remove];
  }
  return [{ kind: 'ttl', object: name, detail: have === undefined ? `set TTL ${want}` : `TTL ${have} -> ${want}`, sql: `ALTER TABLE ${name} MODIFY TTL ${want}` }];
}

/** What reconcile would do for one table (nothing is changed). */
export async function planTable(ch: ClickHouseClient, t: TableObjects, live: Map<string, LiveTable>): Promise<TablePlan> {
  const actions: Action[] = [t.changelog, t.changes, t.current, ...(t.distributed ?? [])].flatMap((s) => storageActions(s, live.get(s.name)));
  actions.push(
    ...(await ttlActions(ch, t.changelog.name, t.changelog.ttl, live.get(t.changelog.name))),
    ...(await ttlActions(ch, t.changes.name, undefined, live.get(t.changes.name), 'the SCD2 history is built from it; changes already deleted are missing from the history until a resync')),
    ...(await ttlActions(ch, t.current.name, undefined, live.get(t.current.name), 'the current state must keep every row; rows already deleted are missing until a resync (validation names them)')),
  );
  const liveFeed = live.get(t.changesView.name);
  const fd = liveFeed ? await viewDiff(ch, t.changesView, liveFeed) : 'missing';
  if (fd) {
    const backfill = live.has(t.changelog.name);
    const sql = [...(liveFeed ? [`DROP VIEW IF EXISTS ${t.changesView.name}`] : []), createSql(t.changesView, false), ...(backfill ? [backfillChangesSql(t)] : [])];
    actions.push({ kind: 'feed-changes', object: t.changes.name, reason: `${t.changesView.name}: ${fd}`, backfill, sql });
  }
  const reasons: string[] = [];
  const liveQueue = live.get(t.queue.name);
  const qd = liveQueue ? queueDiff(t.queue, liveQueue) : 'missing';
  if (qd) reasons.push(`${t.queue.name}: ${qd}`);
  for (const v of t.views) {
    const lv = live.get(v.name);
    const vd = lv ? await viewDiff(ch, v, lv) : 'missing';
    if (vd) reasons.push(`${v.name}: ${vd}`);
  }
  if (reasons.length > 0) {
    const existingViews = t.views.filter((v) => live.has(v.name));
    const sql = [
      ...existingViews.reverse().map((v) => `DROP VIEW IF EXISTS ${v.name}`),
      ...(liveQueue ? [`DROP TABLE IF EXISTS ${t.queue.name}`] : []),
      // The views are created on a placeholder, then the queue replaces it: it starts with every view.
      createSql(placeholderQueue(t.queue), false),
      ...t.views.map((v) => createSql(v, false)),
      `DROP TABLE IF EXISTS ${t.queue.name}`,
      createSql(t.queue, false),
    ];
    actions.push(liveQueue ? { kind: 'recreate-consumer', object: t.queue.name, reason: reasons.join('; '), sql } : { kind: 'create-consumer', object: t.queue.name, sql });
  }
  return { table: t.names.source, actions, ...(t.cluster ? { cluster: t.cluster } : {}) };
}

function statementsOf(a: Action): string[] {
  switch (a.kind) {
    case 'create':
      return [a.sql];
    case 'feed-changes':
    case 'create-consumer':
    case 'recreate-consumer':
      return a.sql;
    case 'add-column':
    case 'comment':
    case 'ttl':
      return [a.sql];
    case 'drift':
      return [];
  }
}

export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'create':
      return `create ${a.object}`;
    case 'feed-changes':
      return `feed ${a.object} from the per-message record (${a.reason})${a.backfill ? ', then copy the record into it once' : ''}`;
    case 'create-consumer':
      return `create ${a.object} and its views`;
    case 'add-column':
      return `${a.object}: ${a.sql.replace(/^ALTER TABLE \S+ /, '')}`;
    case 'comment':
      return `${a.object}: column comment`;
    case 'ttl':
      return `${a.object}: ${a.detail}`;
    case 'recreate-consumer':
      return `recreate the consumer of ${a.object} with its group (${a.reason})`;
    case 'drift':
      return `DRIFT ${a.object}: ${a.detail}`;
  }
}

/**
 * Apply a plan: storage first (views need their targets), then the feed of
 * `<t>_changes` (it must exist before the queue writes the record), then the
 * consumer, and TTLs last: a copy of the record into `<t>_changes` must read
 * it before a new TTL deletes from it.
 */
export async function applyPlan(ch: ClickHouseClient, plan: TablePlan, log: (m: string) => void): Promise<void> {
  const rank: Partial<Record<Action['kind'], number>> = { 'feed-changes': 1, 'create-consumer': 2, 'recreate-consumer': 2, ttl: 3 };
  const order = (a: Action) => rank[a.kind] ?? 0;
  for (const a of [...plan.actions].sort((x, y) => order(x) - order(y))) {
    log(`${plan.table}: ${describeAction(a)}`);
    for (const query of statementsOf(a).map((q) => onCluster(q, plan.cluster))) {
      try {
        await ch.command({ query });
      } catch (err) {
        throw new Error(`${plan.table}: ${describeAction(a)} failed: ${(err as Error).message}\nstatement:\n${query}`, { cause: err });
      }
    }
  }
}
