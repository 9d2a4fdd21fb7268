/**
 * A resync's steps on one ClickHouse host (activities/resync.ts runs each on
 * every host of the replica set: activities/resync-hosts.ts): the swap and
 * the completion, and the small reads they share. Each is idempotent on its
 * host: a retried step repeats it to the same result, and a host that
 * already did it (its EXCHANGE mark, its old copy gone) does nothing again.
 */
import type { ClickHouseClient } from '../connectors/clickhouse/client.ts';
import type { TableObjects } from '../catalog/object-types.ts';
import { copyStreamedSql, firstLoadHistorySql, historySql, keepUnchangedSql, lateRowsSql, swapMark } from '../catalog/resync-sql.ts';
import { markReloaded } from '../connectors/clickhouse/capture-gaps.ts';
import type { ResyncOutcome, SwapResult } from './resync-contract.ts';
import { shadowOutdated } from './resync-shape.ts';

/** What a step needs of its host: the client, the table's objects, and catch-up through this host's consumer group. */
export interface HostTable {
  ch: ClickHouseClient;
  t: TableObjects;
  /** Waits until this host has every change committed before the plan's catch-up position (a retryable error when it does not in time). */
  catchUp: (what: string) => Promise<void>;
  /** Waits until this host's consumer group has inserted every message its topic holds now (a retryable error when it does not in time). */
  drain: (what: string) => Promise<void>;
}

export const count = async (ch: ClickHouseClient, sql: string): Promise<number> => {
  const rs = await ch.query({ query: sql, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]?.n ?? 0);
};

/** A table's comment (the swap's mark), or undefined when the table does not exist. */
export async function tableComment(ch: ClickHouseClient, t: TableObjects, table: string): Promise<string | undefined> {
  const rs = await ch.query({
    query: 'SELECT comment FROM system.tables WHERE database = {db:String} AND name = {t:String}',
    query_params: { db: t.names.database, t: table.slice(t.names.database.length + 1) },
    format: 'JSONEachRow',
  });
  return (await rs.json<{ comment: string }>())[0]?.comment;
}

export async function dropShadow(ch: ClickHouseClient, t: TableObjects): Promise<void> {
  await ch.command({ query: `DROP VIEW IF EXISTS ${t.names.resyncHistoryMv}` });
  await ch.command({ query: `DROP TABLE IF EXISTS ${t.names.resyncHistory}` });
  await ch.command({ query: `DROP VIEW IF EXISTS ${t.resync.view.name}` });
  await ch.command({ query: `DROP TABLE IF EXISTS ${t.resync.input.name}` });
  await ch.command({ query: `DROP TABLE IF EXISTS ${t.resync.shadow.name}` });
}

/** An empty live copy: the history of what may be a first load, written during the load (firstLoadHistorySql). */
export async function prepareFirstLoadHistory(ch: ClickHouseClient, t: TableObjects, floor: bigint): Promise<void> {
  if ((await count(ch, `SELECT count() AS n FROM ${t.current.name}`)) > 0) return;
  const history = firstLoadHistorySql(t, floor);
  await ch.command({ query: history.table });
  await ch.command({ query: history.view });
}

/** Catch up, copy what streamed since S0 into the shadow, swap. A host already swapped does nothing. */
export async function swapOnHost({ ch, t, catchUp }: HostTable, floor: bigint): Promise<SwapResult> {
  const mark = swapMark(floor);
  if ((await tableComment(ch, t, t.current.name)) === mark) return { streamedCopied: 0, keptRows: 0, swapped: true };
  const before = await shadowOutdated(ch, t);
  if (before) return { streamedCopied: 0, keptRows: 0, swapped: false, shapeChanged: before };
  // An ALTER from here on is the next schema change's: ClickHouse's copy and the shadow keep the shape they share.
  await catchUp('before the swap');
  // Every range is in: a first load's history is complete (firstLoadHistorySql), and nothing below may add to it.
  await ch.command({ query: `DROP VIEW IF EXISTS ${t.names.resyncHistoryMv}` });
  if ((await tableComment(ch, t, t.names.resyncHistory)) !== undefined && (await count(ch, `SELECT count() AS n FROM ${t.current.name} WHERE version <= ${floor}`)) > 0) {
    // Not a first load after all (a change from before S0 arrived during the load): the completion compares.
    await ch.command({ query: `DROP TABLE IF EXISTS ${t.names.resyncHistory}` });
  }
  const streamed = await count(ch, `SELECT count() AS n FROM ${t.current.name} WHERE version > ${floor}`);
  await ch.command({ query: copyStreamedSql(t.current.name, t.resync.shadow.name, floor) });
  const keep = keepUnchangedSql(t, t.current.name, t.resync.shadow.name, floor);
  // No live row below L (without FINAL a superset: none means none), as on a first load: nothing to keep,
  // and the statements would still hash every loaded row.
  let keptRows = 0;
  if ((await count(ch, keep.live)) > 0) {
    await ch.command({ query: keep.copy });
    keptRows = await count(ch, keep.count);
    await ch.command({ query: keep.drop, clickhouse_settings: { lightweight_deletes_sync: '2' } });
  }
  await ch.command({ query: `ALTER TABLE ${t.resync.shadow.name} MODIFY COMMENT '${mark}'` });
  await ch.command({ query: `EXCHANGE TABLES ${t.current.name} AND ${t.resync.shadow.name}` });
  return { streamedCopied: streamed, keptRows, swapped: true };
}

/**
 * A first load's history (firstLoadHistorySql) into the change log, when the swap kept it: true when it did.
 * A table whose shape moved since (an ALTER of the change log after the swap) cannot give its parts:
 * false, and the completion writes the history from the loaded rows instead.
 */
async function moveFirstLoadHistory(ch: ClickHouseClient, t: TableObjects, floor: bigint): Promise<boolean> {
  if ((await tableComment(ch, t, t.names.resyncHistory)) === undefined) return false;
  const history = firstLoadHistorySql(t, floor);
  if ((await count(ch, history.streamed)) > 0) await ch.command({ query: history.dropStreamed, clickhouse_settings: { lightweight_deletes_sync: '2' } });
  try {
    await ch.command({ query: history.move });
    return true;
  } catch (err) {
    console.warn(`${t.changes.name}: the first load's history could not be moved in (${(err as Error).message.split('\n')[0]}); writing it from the loaded rows`);
    await ch.command({ query: `DROP TABLE IF EXISTS ${t.names.resyncHistory}` });
    return false;
  }
}

/** After the swap: late rows of the old copy, the history, the old copy dropped; `gapsOf`: the capture gaps of this table get their reload. */
export async function completeOnHost({ ch, t, drain }: HostTable, floor: bigint, gapsOf: string | undefined): Promise<ResyncOutcome> {
  const old = t.resync.shadow.name;
  const hasOld = (await tableComment(ch, t, old)) !== undefined;
  let lateCopied = 0;
  let changedRows = 0;
  let deletedRows = 0;
  if (hasOld) {
    // Every message consumed before the swap has been inserted (into the old copy, if it was resolved before
    // the swap): the topic's end read now is past each of them. A change Kafka did not have at the swap is
    // consumed after it, into the live copy: no wait for Postgres' side.
    await drain('after the swap');
    await ch.command({ query: `DROP VIEW IF EXISTS ${t.resync.view.name}` });
    const late = lateRowsSql(t, old, floor);
    lateCopied = await count(ch, late.count);
    if (lateCopied > 0) await ch.command({ query: late.copy });
    const changesBefore = await count(ch, `SELECT count() AS n FROM ${t.changes.name} FINAL WHERE lsn = ${floor}`);
    // A first load's history was written during the load (kept by the swap): its parts move in whole.
    if (!(await moveFirstLoadHistory(ch, t, floor))) {
      // Without FINAL a superset of the live rows: none means none (a first load's case, its history written in bulk).
      const oldEmpty = (await count(ch, `SELECT count() AS n FROM ${old} WHERE is_deleted = 0`)) === 0;
      const h = historySql(t, old, floor, oldEmpty);
      // Repeated after a crash between the two statements, the first adds nothing new: the change log collapses (key, lsn).
      await ch.command({ query: h.changed });
      if (h.deleted) {
        const afterChanged = await count(ch, `SELECT count() AS n FROM ${t.changes.name} FINAL WHERE lsn = ${floor}`);
        await ch.command({ query: h.deleted });
        deletedRows = (await count(ch, `SELECT count() AS n FROM ${t.changes.name} FINAL WHERE lsn = ${floor}`)) - afterChanged;
      }
    }
    changedRows = (await count(ch, `SELECT count() AS n FROM ${t.changes.name} FINAL WHERE lsn = ${floor}`)) - changesBefore - deletedRows;
    await ch.command({ query: `DROP TABLE IF EXISTS ${t.resync.input.name}` });
    await ch.command({ query: `DROP TABLE IF EXISTS ${old}` });
  }
  // Last: a completion repeated after a crash finds it (emptied by the move) as long as the old copy is there.
  await ch.command({ query: `DROP TABLE IF EXISTS ${t.names.resyncHistory}` });
  // The pipeline's capture gaps of this table (connectors/clickhouse/capture-gaps.ts) now have their reload; another pipeline's table has none.
  if (gapsOf !== undefined) {
    await markReloaded(ch, gapsOf, String(floor)).catch((err: unknown) => {
      // A stack whose ClickHouse migrations predate capture_gaps has recorded none (npm run setup creates the table).
      if ((err as { type?: string }).type !== 'UNKNOWN_TABLE') throw err;
    });
  }
  await ch.command({ query: `ALTER TABLE ${t.current.name} MODIFY COMMENT ''` });
  // Live keys whose row is the loaded one, at L or at the unchanged live row's version (a range read twice inserts a key twice until merges collapse it).
  const loadedRows = await count(ch, `SELECT count() AS n FROM ${t.current.name} FINAL WHERE version <= ${floor} AND is_deleted = 0`);
  return { loadedRows, changedRows, deletedRows, lateCopied };
}
