/**
 * A resync range's load (activities/resync.ts): the Postgres objects it reads
 * through (catalog/resync-load-sql.ts says why a function and a view) and the
 * pull itself, run by each ClickHouse host of the replica set at once.
 *
 * Each host reads the range from Postgres on its own. That reads the source
 * once per host, and each host may see the range at a slightly later state;
 * both are exact for the same reason a range read late is: every row is
 * loaded at version L, below every change streamed since S0, so the stream
 * brings each host to the same rows.
 */
import type pg from 'pg';
import { pgAddress } from '../connectors/postgres/address.ts';
import { dateStyleRefusal, pullRangeSettings, pullRangeSql, type LoadSource } from '../catalog/resync-load-sql.ts';
import type { TableObjects } from '../catalog/object-types.ts';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';
import type { ResyncHost } from './resync-hosts.ts';
import { tableComment } from './resync-steps.ts';

/** The range's rendering function (made once, under a lock: parallel ranges share it) and its view. */
export async function ensureLoadSource(db: pg.Pool, s: LoadSource): Promise<void> {
  const c = await db.connect();
  try {
    await c.query('begin');
    await c.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [s.fn]);
    const { rows } = await c.query<{ n: number }>(`select count(*)::int as n from pg_proc where pronamespace = 'public'::regnamespace and proname = $1`, [s.fn]);
    if (rows[0]!.n === 0) await c.query(s.createFn);
    await c.query(s.createView);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    const msg = err instanceof Error ? err.message : String(err);
    if ((err as { code?: string }).code === '42501') throw permanentFailure(IngestErrorType.InvalidInput, `resync reads through a function and views it makes in the source database's schema public, and the worker's role may not create there: ${msg}`);
    throw err;
  } finally {
    c.release();
  }
}

/**
 * Every host pulls the range into its shadow at once; the rows are ch1's count. Rows inserted before a failure
 * stay in a shadow: the retried range inserts those keys again at the same version L, which the shadow's
 * ReplacingMergeTree collapses.
 */
export async function pullRangeOnHosts(hosts: ResyncHost[], t: TableObjects, source: LoadSource, db: pg.Pool, lsnFloor: bigint, signal: AbortSignal, named: (h: ResyncHost, m: string) => string): Promise<number> {
  let address;
  try {
    address = pgAddress(db);
  } catch (err) {
    // A configuration the ClickHouse host cannot use: retrying cannot help.
    throw permanentFailure(IngestErrorType.InvalidInput, err instanceof Error ? err.message : String(err));
  }
  const sql = pullRangeSql(t, source, address, lsnFloor);
  const counts = await Promise.all(
    hosts.map(async (h) => {
      try {
        // Written rows count each row once per table it reaches: the Null input table, the shadow through its
        // view, and on a first load the history through the shadow's view (the only count the server gives).
        const writes = (await tableComment(h.ch, t, t.names.resyncHistoryMv)) === undefined ? 2 : 3;
        const r = await h.ch.command({ query: sql, abort_signal: signal, clickhouse_settings: pullRangeSettings });
        return Math.round(Number(r.summary?.written_rows ?? 0) / writes);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        // The role's setting, the same on every retry.
        if (msg.includes(dateStyleRefusal)) throw permanentFailure(IngestErrorType.InvalidInput, named(h, `${msg.slice(msg.indexOf(dateStyleRefusal)).split('"')[0]}: set it for the worker's role (ALTER ROLE ${address.user} SET DateStyle = 'ISO, MDY')`));
        throw new Error(named(h, msg), { cause: err });
      }
    }),
  );
  return counts[0] ?? 0;
}
