/**
 * ClickHouse's side of a backup: its own BACKUP / RESTORE (run ASYNC and
 * followed in system.backups, so a long one reports progress), the objects
 * left out, and the counts and checksums a manifest records.
 *
 * Left out of every backup: each Kafka-engine queue and the views that read
 * it. A restored queue would start consuming at once, from offsets that
 * belong to the host that was lost; the restore creates them from the
 * catalog only after rewinding the groups (activities/backup/restore.ts). A resync's shadow
 * objects are left out too (a resync started again rebuilds them).
 */
import { pipelineNames, tableNames, type TableNames } from '../../shared/names.ts';
import { chRows as rows, type ClickHouseClient } from './client.ts';

/** Rows and an order-independent checksum of one table's contents (FINAL where the engine collapses rows). */
export interface TableChecksum {
  database: string;
  table: string;
  engine: string;
  final: boolean;
  rows: string;
  checksum: string;
}

/** The pipeline's ClickHouse databases: every table's objects, and the bookkeeping (applied migrations). */
export const backupDatabases = [pipelineNames.clickhouseDatabase, pipelineNames.metaDatabase];

/** Names a captured table's objects under the pipeline's database. */
export const namesOf = (source: string, groupPrefix: string): TableNames => tableNames(source, { groupPrefix });

/** What a backup leaves out, as `db.table`: every Kafka-engine table and the views reading it, and resync leftovers. */
export async function consumerObjects(ch: ClickHouseClient, databases: string[], captured: TableNames[]): Promise<string[]> {
  const tables = await rows<{ t: string; engine: string; deps: string[] }>(
    ch,
    `SELECT database || '.' || name AS t, engine, arrayMap((d, n) -> d || '.' || n, dependencies_database, dependencies_table) AS deps
       FROM system.tables WHERE database IN {dbs:Array(String)}`,
    { dbs: databases },
  );
  const exists = new Set(tables.map((t) => t.t));
  const out = new Set<string>();
  for (const t of tables.filter((x) => x.engine === 'Kafka')) for (const n of [t.t, ...t.deps]) out.add(n);
  for (const n of captured) for (const o of [n.queue, n.changelogMv, n.currentMv, n.errorsMv, n.resyncMv, n.resyncInput, n.resyncShadow, n.resyncHistoryMv, n.resyncHistory]) if (exists.has(o)) out.add(o);
  return [...out].filter((o) => exists.has(o)).sort();
}

export interface Progress {
  status: string;
  files: number;
  bytes: number;
}

/**
 * Run a BACKUP or RESTORE statement ASYNC and wait for it, reporting
 * progress; throws with ClickHouse's error when it fails.
 */
export async function runAsync(ch: ClickHouseClient, statement: string, onProgress: (p: Progress) => void): Promise<Progress> {
  const [started] = await rows<{ id: string; status: string }>(ch, `${statement} ASYNC`);
  if (!started) throw new Error('ClickHouse returned no operation id');
  for (;;) {
    const [s] = await rows<{ status: string; error: string; num_files: string; total_size: string; uncompressed_size: string; bytes_read: string; files_read: string }>(
      ch,
      'SELECT status, error, num_files, total_size, uncompressed_size, bytes_read, files_read FROM system.backups WHERE id = {id:String}',
      { id: started.id },
    );
    if (!s) throw new Error(`operation ${started.id} vanished from system.backups`);
    const restoring = s.status.startsWith('RESTOR');
    const p = { status: s.status, files: Number(restoring ? s.files_read : s.num_files), bytes: Number(restoring ? s.bytes_read : s.uncompressed_size) };
    if (s.status === 'BACKUP_CREATED' || s.status === 'RESTORED') return p;
    if (s.status.endsWith('FAILED') || s.status.endsWith('CANCELLED')) throw new Error(`ClickHouse ${restoring ? 'RESTORE' : 'BACKUP'} ${s.status}: ${s.error.split('\n')[0]}`);
    onProgress(p);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/**
 * `DATABASE a, DATABASE b EXCEPT TABLES b.x, b.y`: an EXCEPT list runs to the
 * next comma-separated name, so the one database with exclusions goes last.
 */
function databaseList(databases: string[], excluded: string[], as: Record<string, string> = {}): string {
  const parts = databases.map((db) => {
    const except = excluded.filter((o) => o.startsWith(`${db}.`));
    return { except: except.length > 0, sql: `DATABASE ${db}${as[db] ? ` AS ${as[db]}` : ''}${except.length > 0 ? ` EXCEPT TABLES ${except.join(', ')}` : ''}` };
  });
  if (parts.filter((p) => p.except).length > 1) throw new Error(`only one database can leave tables out: ${databases.join(', ')}`);
  return [...parts.filter((p) => !p.except), ...parts.filter((p) => p.except)].map((p) => p.sql).join(', ');
}

export function backupStatement(databases: string[], excluded: string[], destination: string, baseDestination?: string): string {
  return `BACKUP ${databaseList(databases, excluded)} TO ${destination}${baseDestination ? ` SETTINGS base_backup = ${baseDestination}` : ''}`;
}

/** RESTORE the databases (renamed by `as`, e.g. into a scratch copy), leaving out `skip` (`db.table` as named in the backup). */
export function restoreStatement(databases: string[], destination: string, as: Record<string, string> = {}, skip: string[] = []): string {
  return `RESTORE ${databaseList(databases, skip, as)} FROM ${destination}`;
}

const collapses = (engine: string) => /Replacing|Collapsing|Aggregating|Summing/.test(engine);

/**
 * Rows and checksum of every table in `readDb`, reported under `reportDb`.
 * Tables whose engine collapses rows on merge are read with FINAL, so the
 * figures do not change when a merge runs; the checksum is the sum of each
 * row's cityHash64 (order-independent, and a changed or missing row shows).
 */
export async function tableChecksums(ch: ClickHouseClient, readDb: string, reportDb: string): Promise<TableChecksum[]> {
  const tables = await rows<{ name: string; engine: string }>(
    ch,
    `SELECT name, engine FROM system.tables WHERE database = {db:String} AND engine NOT IN ('MaterializedView', 'View', 'Kafka', 'Null') ORDER BY name`,
    { db: readDb },
  );
  const out: TableChecksum[] = [];
  for (const t of tables) {
    const final = collapses(t.engine);
    const [r] = await rows<{ rows: string; checksum: string }>(ch, `SELECT toString(count()) AS rows, toString(sum(cityHash64(*))) AS checksum FROM ${readDb}.\`${t.name}\`${final ? ' FINAL' : ''}`);
    out.push({ database: reportDb, table: t.name, engine: t.engine, final, rows: r?.rows ?? '0', checksum: r?.checksum ?? '0' });
  }
  return out;
}

/** Prefix of the read-only databases a backup is attached as (dropped after use; leftovers of a crash are dropped next time). */
export const READ_PREFIX = 'astros_backup_read_';

/**
 * Read a backup without restoring it (ClickHouse's Backup database engine):
 * `fn` gets, per backed-up database, the name it is readable under.
 */
export async function readBackup<T>(ch: ClickHouseClient, databases: string[], destination: string, tag: string, fn: (readAs: Record<string, string>) => Promise<T>): Promise<T> {
  const readAs = Object.fromEntries(databases.map((db, i) => [db, `${READ_PREFIX}${tag}_${i}`]));
  try {
    for (const [db, as] of Object.entries(readAs)) await ch.command({ query: `CREATE DATABASE ${as} ENGINE = Backup('${db}', ${destination})` });
    return await fn(readAs);
  } finally {
    for (const as of Object.values(readAs)) await ch.command({ query: `DROP DATABASE IF EXISTS ${as}` }).catch(() => undefined);
  }
}

/** Drop read-only backup databases and scratch copies a crashed run left behind (they name their prefix). */
export async function dropLeftovers(ch: ClickHouseClient, prefix: string): Promise<void> {
  const dbs = await rows<{ name: string }>(ch, 'SELECT name FROM system.databases WHERE startsWith(name, {p:String})', { p: prefix });
  for (const d of dbs) await ch.command({ query: `DROP DATABASE IF EXISTS ${d.name}` });
}

/** Newest LSN of a captured table's change log, as text ('0' when empty or missing). */
export async function newestLsn(ch: ClickHouseClient, changesTable: string): Promise<string> {
  const [r] = await rows<{ lsn: string }>(ch, `SELECT toString(max(lsn)) AS lsn FROM ${changesTable}`).catch(() => [{ lsn: '0' }]);
  return r?.lsn ?? '0';
}
