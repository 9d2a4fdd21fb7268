/**
 * The SQL of a resync (activities/resync.ts runs it), from a table's objects.
 *
 * Versions. Every loaded row carries version L = S0 - 1, where S0 is the WAL
 * insert position read before the load started and before waiting for every
 * transaction then in progress to end. So each transaction a range's read
 * does not see began after S0 and every change of it has an LSN > L: it
 * streams and wins over the loaded row (ReplacingMergeTree keeps the highest
 * version). Changes of transactions the read does see are either below L (the
 * loaded row holds their result) or above it (streamed, same values or later).
 * That holds key by key, whenever a range is read, so ranges need no shared
 * snapshot: each is one statement, read in parallel, and a range that is read
 * again after a crash is simply newer.
 */
import { ident } from './column-types.ts';
import type { TableObjects } from './object-types.ts';

/** A range of heap blocks: [fromBlock, toBlock), the last one open-ended (rows appended meanwhile are read too). */
export interface BlockRange {
  index: number;
  fromBlock: number;
  toBlock: number | null;
}

/** Debezium fields a loaded row carries: a read (`r`) at version L, read now, no transaction. */
export const LOADED_FIELDS = ['__op', '__lsn', '__source_ts_ms', '__ts_ms', '__source_txId', '__deleted'] as const;

/**
 * Rows per range unless a run says otherwise. Each range is one statement writing one part of the shadow; ~100k-row
 * ranges left a 1M-row load eleven parts whose merges cost the ClickHouse host a fifth more CPU than four or five
 * (bench/README.md, the load's tuning log). A range is held as one block while it is written (~50 MiB here), and
 * a failed range is read again whole.
 */
export const DEFAULT_RANGE_ROWS = 250_000;

export function splitBlocks(blocks: number, blocksPerRange: number): BlockRange[] {
  const per = Math.max(1, Math.floor(blocksPerRange));
  const out: BlockRange[] = [];
  for (let from = 0, i = 0; from < Math.max(blocks, 1); from += per, i++) out.push({ index: i, fromBlock: from, toBlock: from + per });
  out[out.length - 1]!.toBlock = null;
  return out;
}

const dataColumns = (t: TableObjects): string[] => t.current.columns.map((c) => c.name).filter((n) => !['commit_ts', 'version', 'is_deleted'].includes(n));
const keyTuple = (t: TableObjects, alias = ''): string => `(${t.key.map((k) => `${alias}${ident(k)}`).join(', ')})`;
const rowHash = (t: TableObjects): string => `cityHash64(toString(tuple(${dataColumns(t).map((c) => ident(c)).join(', ')})))`;

/** Rows that streamed after S0 into `from`, copied into `to` (equal versions collapse: copying twice is harmless). */
export function copyStreamedSql(from: string, to: string, lsnFloor: bigint): string {
  return `INSERT INTO ${to} SELECT * FROM ${from} WHERE version > ${lsnFloor}`;
}

/** Rows that reached the old copy after the first copy (consumed while the swap ran): the ones the live copy lacks. */
export function lateRowsSql(t: TableObjects, old: string, lsnFloor: bigint): { count: string; copy: string } {
  const where = `WHERE version > ${lsnFloor} AND (${keyTuple(t)}, version) NOT IN (SELECT ${keyTuple(t)}, version FROM ${t.current.name} WHERE version > ${lsnFloor})`;
  return { count: `SELECT count() AS n FROM ${old} ${where}`, copy: `INSERT INTO ${t.current.name} SELECT * FROM ${old} ${where}` };
}

/**
 * Before the swap: a loaded row equal to the key's live row keeps that row's
 * version and commit time instead of L. Its value did not change, so the
 * change that produced it is still the current one; the change history gets
 * no row for it (historySql), and the SCD2 history's current row and the
 * current state then name the same version. Only live rows below L qualify
 * (a row streamed after S0 wins over the loaded one anyway). Two statements,
 * each safe to repeat: the live rows are copied into the shadow (they lose to
 * the loaded rows at L until the second), then the loaded rows they equal are
 * deleted from it.
 */
export function keepUnchangedSql(t: TableObjects, live: string, shadow: string, lsnFloor: bigint): { live: string; count: string; copy: string; drop: string } {
  const keyHash = `(${keyTuple(t)}, ${rowHash(t)})`;
  const loaded = `SELECT ${keyTuple(t)}, ${rowHash(t)} FROM ${shadow} WHERE version = ${lsnFloor} AND is_deleted = 0`;
  const kept = `SELECT ${keyTuple(t)}, ${rowHash(t)} FROM ${shadow} WHERE version < ${lsnFloor} AND is_deleted = 0`;
  return {
    live: `SELECT count() AS n FROM ${live} WHERE version < ${lsnFloor} AND is_deleted = 0`,
    // Counted in a subquery: the alias n must not shadow a column n inside the hash.
    count: `SELECT count() AS n FROM (SELECT 1 FROM ${shadow} WHERE version = ${lsnFloor} AND is_deleted = 0 AND ${keyHash} IN (${kept}))`,
    copy: `INSERT INTO ${shadow} SELECT * FROM ${live} FINAL WHERE version < ${lsnFloor} AND is_deleted = 0 AND ${keyHash} IN (${loaded})`,
    drop: `DELETE FROM ${shadow} WHERE version = ${lsnFloor} AND ${keyHash} IN (${kept})`,
  };
}

/**
 * The change history after the swap (`current` is the loaded copy, `old` the
 * one it replaced): a loaded row that differs from the key's live row before
 * adds a read (`r`) at L; a live key the load did not find adds a delete at
 * L. A loaded row equal to what was there adds nothing (it kept the live
 * row's version: keepUnchangedSql), so a resync of a table that had not
 * drifted writes no history and moves no version.
 */
export function historySql(t: TableObjects, old: string, lsnFloor: bigint, oldEmpty = false): { changed: string; deleted?: string } {
  const data = dataColumns(t).map((c) => ident(c));
  const target = `${t.changes.name} (${[...data, 'op', 'is_deleted', 'lsn', 'tx_id', 'commit_ts'].join(', ')})`;
  // A first load (the old copy held no live row): every loaded row is new and no key was deleted, so the
  // history is the loaded rows as they are, without FINAL, row hashes or the anti-join (a key a retried
  // range loaded twice is written twice and collapses in the change log, keyed by key and LSN).
  if (oldEmpty) {
    return { changed: `INSERT INTO ${target}\nSELECT ${data.join(', ')}, 'r', 0, ${lsnFloor}, NULL, commit_ts\nFROM ${t.current.name}\nWHERE version = ${lsnFloor} AND is_deleted = 0` };
  }
  const changed = `INSERT INTO ${target}
SELECT ${data.join(', ')}, 'r', 0, ${lsnFloor}, NULL, commit_ts
FROM ${t.current.name} FINAL
WHERE version = ${lsnFloor} AND is_deleted = 0
  AND (${keyTuple(t)}, ${rowHash(t)}) NOT IN (SELECT ${keyTuple(t)}, ${rowHash(t)} FROM ${old} FINAL WHERE is_deleted = 0)`;
  const deleted = `INSERT INTO ${target}
SELECT ${data.join(', ')}, 'd', 1, ${lsnFloor}, NULL, now64(3)
FROM ${old} FINAL
WHERE is_deleted = 0 AND version <= ${lsnFloor}
  AND ${keyTuple(t)} NOT IN (SELECT ${keyTuple(t)} FROM ${t.current.name})`;
  return { changed, deleted };
}

/**
 * A first load's history, written while the load runs instead of read back
 * from a million loaded rows at completion: a table of `changes`' own
 * structure (CREATE TABLE AS: what MOVE PARTITION requires) and a view on the
 * shadow that writes each loaded row there as a read (`r`) at L, as the bulk
 * form of historySql would. Prepared when the live copy is empty; the swap
 * drops the view before anything else writes the shadow and keeps the table
 * only when the live copy, caught up past every change below S0, still has
 * no row at or below L (a first load); the completion drops the reads of keys
 * that streamed after S0, then moves its parts into `changes` whole (no row
 * rewritten; a move repeated after a crash finds none left). A key a retried
 * range loaded twice collapses in the change log.
 */
export function firstLoadHistorySql(t: TableObjects, lsnFloor: bigint): { table: string; view: string; streamed: string; dropStreamed: string; move: string } {
  const { resyncHistory, resyncHistoryMv } = t.names;
  const data = dataColumns(t).map((c) => ident(c));
  return {
    table: `CREATE TABLE ${resyncHistory} AS ${t.changes.name}`,
    view: `CREATE MATERIALIZED VIEW ${resyncHistoryMv} TO ${resyncHistory} AS
SELECT ${data.join(', ')}, 'r' AS op, toUInt8(0) AS is_deleted, toUInt64(${lsnFloor}) AS lsn, CAST(NULL AS Nullable(UInt64)) AS tx_id, commit_ts
FROM ${t.resync.shadow.name}
WHERE version = ${lsnFloor} AND is_deleted = 0`,
    // A key with a row above L in the live copy (streamed after S0, late rows included) keeps its streamed
    // history only, as historySql's FINAL would have it: its read at L goes.
    streamed: `SELECT count() AS n FROM ${t.current.name} WHERE version > ${lsnFloor}`,
    dropStreamed: `DELETE FROM ${resyncHistory} WHERE ${keyTuple(t)} IN (SELECT ${keyTuple(t)} FROM ${t.current.name} WHERE version > ${lsnFloor})`,
    // `changes` is not partitioned: its one partition.
    move: `ALTER TABLE ${resyncHistory} MOVE PARTITION tuple() TO TABLE ${t.changes.name}`,
  };
}

/** The comment that marks the shadow as swapped in (EXCHANGE moves it to the live name): a retried swap checks it. */
export const swapMark = (lsnFloor: bigint | ''): string => `resync at ${lsnFloor}`;
