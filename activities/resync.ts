/**
 * Resync activities: rebuild one table's ClickHouse copy straight from
 * Postgres, beside the live copy, and swap it in (workflows/resync-table.ts
 * orders them; catalog/resync-sql.ts says why the versions make it exact).
 *
 *   prepareResync   fresh shadow objects; S0, then wait for the transactions
 *                   open at S0 to end; the block ranges
 *   loadResyncRange one range: Postgres COPY (text format, Debezium's wire
 *                   values) streamed as TabSeparated into the Null input
 *                   table, whose view writes the shadow; the ClickHouse host
 *                   inserts it chunk by chunk as it arrives
 *   swapResync      ClickHouse caught up; rows streamed since S0 copied into
 *                   the shadow; loaded rows equal to the live ones keep their
 *                   version; EXCHANGE TABLES (queries see the old copy until
 *                   here)
 *   completeResync  wait until every message consumed before the swap is in,
 *                   copy what reached the old copy meanwhile, history rows,
 *                   drop the old copy; the table's capture gaps name the
 *                   reload
 *   abandonResync   drop the shadow objects; the live copy is never touched
 *
 * Each is idempotent: a retry repeats it to the same result.
 *
 * The table is resolved through the live catalog (what the main pipeline
 * captures), or, when the input carries a `target`, from that: the
 * declaration, object names and slot of a table another pipeline on the same
 * stack captures (the benchmark's own, in ClickHouse database `bench`), which
 * the live catalog must not hold (the main connector would capture it too).
 */
import type pg from 'pg';
import type { ClickHouseClient } from '../connectors/clickhouse/client.ts';
import { createSql } from '../catalog/clickhouse-create.ts';
import type { TableObjects } from '../catalog/object-types.ts';
import { validationTransforms } from '../catalog/column-options.ts';
import type { SourceTable } from '../catalog/introspect.ts';
import { deriveOptions, deriveTables } from '../catalog/derive.ts';
import { pgAddress } from '../connectors/postgres/address.ts';
import { groupSource } from '../connectors/postgres/sources.ts';
import { copyStreamedSql, historySql, keepUnchangedSql, lateRowsSql, splitBlocks, swapMark } from '../catalog/resync-sql.ts';
import { groupOf, parseDeclarations, type TableDeclaration } from '../catalog/declaration.ts';
import { catalogEntries, isCaptured } from '../catalog/store.ts';
import { validationSpec } from '../catalog/validation-spec.ts';
import type { ValidationSpec } from '../shared/validation.ts';
import { markReloaded } from '../connectors/clickhouse/capture-gaps.ts';
import type { ActivityDeps } from './deps.ts';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';
import { cancelled, heartbeat } from './heartbeat.ts';
import { waitForCatchUp } from './validation/catch-up.ts';
import { lsnToBigInt } from '../shared/lsn.ts';
import type { RangeInput, ResyncOutcome, ResyncPlan, ResyncTarget, SwapResult } from './resync-contract.ts';
import { liveCopyBehind, shadowOutdated } from './resync-shape.ts';
import { dropLoadObjectsSql, loadSource, pullRangeSql, type LoadSource } from '../catalog/resync-load-sql.ts';

export type { RangeInput, ResyncOutcome, ResyncPlan, ResyncTarget, SwapResult };

export type ResyncDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka' | 'endpoints'>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createResyncActivities(deps: ResyncDeps) {
  const { clickhouse: ch, endpoints: env } = deps;

  type Resolved = { src: SourceTable; t: TableObjects; transforms: ReturnType<typeof validationTransforms>; declaration: TableDeclaration; slot?: string };

  /** The captured table's source, objects and column transforms, or undefined when it is not captured. */
  async function lookup(source: string, target?: ResyncTarget): Promise<Resolved | undefined> {
    let declaration: TableDeclaration | undefined;
    if (target) {
      try {
        [declaration] = parseDeclarations([target.declaration], 'resync target');
      } catch (err) {
        throw permanentFailure(IngestErrorType.InvalidInput, err instanceof Error ? err.message : String(err));
      }
      if (declaration?.source !== source) throw permanentFailure(IngestErrorType.InvalidInput, `the target declares ${declaration?.source}, not ${source}`);
    } else {
      declaration = (await catalogEntries(deps.pool)).find((e) => e.declaration.source === source && isCaptured(e.state))?.declaration;
    }
    if (!declaration) return undefined;
    const [derived] = await deriveTables(deps.pool, [declaration], { ...deriveOptions(env, target?.names), sourceOf: (group) => groupSource(env, group, deps.pool) });
    const { source: src, objects: t } = derived!;
    return { src, t, transforms: validationTransforms(declaration, src), declaration, ...(target ? { slot: target.slot } : {}) };
  }

  async function resolve(source: string, target?: ResyncTarget): Promise<Resolved> {
    const found = await lookup(source, target);
    if (!found) throw permanentFailure(IngestErrorType.TableNotCaptured, `${source} is not captured (astros tables list shows what is)`);
    return found;
  }

  /** The table's source database (its group's: connectors/postgres/sources.ts). */
  const sourceDb = (r: Resolved) => groupSource(env, groupOf(r.declaration), deps.pool);

  const specOf = (r: Resolved): ValidationSpec => validationSpec(r.declaration, r.src, r.t.names, r.slot !== undefined ? { slot: r.slot } : {});

  const count = async (ch: ClickHouseClient, sql: string): Promise<number> => {
    const rs = await ch.query({ query: sql, format: 'JSONEachRow' });
    return Number((await rs.json<{ n: string }>())[0]?.n ?? 0);
  };

  /** A table's comment (the swap's mark), or undefined when the table does not exist. */
  async function tableComment(ch: ClickHouseClient, t: TableObjects, table: string): Promise<string | undefined> {
    const rs = await ch.query({
      query: 'SELECT comment FROM system.tables WHERE database = {db:String} AND name = {t:String}',
      query_params: { db: t.names.database, t: table.slice(t.names.database.length + 1) },
      format: 'JSONEachRow',
    });
    return (await rs.json<{ comment: string }>())[0]?.comment;
  }

  async function dropShadow(ch: ClickHouseClient, t: TableObjects): Promise<void> {
    await ch.command({ query: `DROP VIEW IF EXISTS ${t.resync.view.name}` });
    await ch.command({ query: `DROP TABLE IF EXISTS ${t.resync.input.name}` });
    await ch.command({ query: `DROP TABLE IF EXISTS ${t.resync.shadow.name}` });
  }

  /** Catch-up as validation does it: the slot confirmed past `lsn` and the table's consumer group at the topic's end. */
  async function catchUpTo(r: Resolved, lsn: bigint, what: string): Promise<void> {
    const spec = { ...specOf(r), maxWaitMs: 10 * 60_000 };
    heartbeat({ step: `waiting for ClickHouse to catch up (${what})` });
    const c = await waitForCatchUp({ ...deps, pool: sourceDb(r) }, spec, r.t.current.name, lsn);
    if (!c.caughtUp) throw new Error(`ClickHouse did not catch up with Postgres (${what}): ${c.detail}`);
  }

  const walInsertLsn = async (r: Resolved): Promise<bigint> => {
    const { rows } = await sourceDb(r).query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    return lsnToBigInt(rows[0]!.lsn);
  };

  /** The range's rendering function (made once, under a lock: parallel ranges share it) and its view. */
  async function ensureLoadSource(db: pg.Pool, s: LoadSource): Promise<void> {
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

  return {
    /** Fresh shadow objects, the version floor L and the ranges. */
    async prepareResync(input: { source: string; rangeRows?: number; target?: ResyncTarget }): Promise<ResyncPlan> {
      const resolved = await resolve(input.source, input.target);
      const { src, t } = resolved;
      // Its copies, counts and EXCHANGE read and write one host's tables: on a cluster they would see one shard.
      if (t.cluster) throw permanentFailure(IngestErrorType.InvalidInput, `resync is built for one ClickHouse host; CLICKHOUSE_CLUSTER=${t.cluster} is not supported by it yet`);
      const behind = await liveCopyBehind(ch, t);
      if (behind) return { source: input.source, lsnFloor: '0', ranges: [], estimatedRows: 0, waitedFor: 0, shapeChanged: behind };
      const db = sourceDb(resolved);
      await dropShadow(ch, t);
      await db.query(dropLoadObjectsSql(input.source));
      for (const o of [t.resync.shadow, t.resync.input, t.resync.view]) await ch.command({ query: createSql(o, false) });

      const s0 = await walInsertLsn(resolved);
      // Every transaction that had an id at S0 must end before the first read (catalog/resync-sql.ts).
      // Taking an id now gives N, above every id given out before S0. A snapshot's list of running
      // ids stops at its xmax (the newest completed id + 1), so a transaction holding the newest id
      // is not in it; its xmin, the oldest running id, is exact: once it passes N, every older id
      // has ended, as any later read sees it.
      const { rows: ids } = await db.query<{ n: string }>('select pg_current_xact_id()::text as n');
      const n = ids[0]!.n;
      let waitedFor: number | undefined;
      for (;;) {
        const { rows } = await db.query<{ done: boolean; open: number; pid: number | null; since: Date | null }>(
          `with open as (
             select pid, xact_start from pg_stat_activity
              where backend_xid is not null and age(backend_xid) > age(($1::xid8::text::numeric % 4294967296)::text::xid))
           select pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8 as done, (select count(*)::int from open) as open,
                  (select pid from open order by xact_start limit 1) as pid, (select min(xact_start) from open) as since`,
          [n],
        );
        const r = rows[0]!;
        waitedFor ??= r.done ? 0 : Math.max(1, r.open);
        if (r.done) break;
        heartbeat({ step: `waiting for ${Math.max(1, r.open)} transaction(s) open since before the load to end${r.pid ? ` (oldest: pid ${r.pid} since ${r.since?.toISOString()})` : ''}` });
        if (cancelled()) throw new Error('cancelled');
        await sleep(500);
      }
      const { rows: size } = await db.query<{ blocks: string; tuples: string }>(
        // A partitioned table's ranges cover its largest partition (ctid ranges apply to each partition).
        `with leaves as (
           select relid from pg_partition_tree($1::regclass) where isleaf
           union select $1::regclass where (select relkind from pg_class where oid = $1::regclass) <> 'p')
         select coalesce(max(pg_relation_size(l.relid) / current_setting('block_size')::bigint), 0)::text as blocks,
                coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint::text as tuples
           from leaves l join pg_class c on c.oid = l.relid`,
        [`${src.schema}.${src.table}`],
      );
      const blocks = Number(size[0]!.blocks);
      const estimatedRows = Number(size[0]!.tuples);
      const rowsPerBlock = blocks > 0 && estimatedRows > 0 ? estimatedRows / blocks : 50;
      const ranges = splitBlocks(blocks, (input.rangeRows ?? 100_000) / rowsPerBlock);
      return { source: input.source, ...(input.target ? { spec: specOf(resolved) } : {}), lsnFloor: String(s0 - 1n), ranges, estimatedRows, waitedFor };
    },

    /** One block range, pulled from Postgres by the ClickHouse host into the shadow. */
    async loadResyncRange(input: RangeInput): Promise<{ rows: number; shapeChanged?: string }> {
      const resolved = await resolve(input.source, input.target);
      const { src, t, transforms } = resolved;
      const outdated = await shadowOutdated(ch, t);
      if (outdated) return { rows: 0, shapeChanged: outdated };
      const db = sourceDb(resolved);
      const source = loadSource(src, t, transforms, input.range);
      await ensureLoadSource(db, source);
      const started = Date.now();
      const step = () => `range ${input.range.index + 1}/${input.ranges}: ClickHouse reading it from Postgres for ${((Date.now() - started) / 1000).toFixed(0)} s; about ${input.rowsBefore} of ${input.estimatedRows} rows loaded before it`;
      heartbeat({ step: step() });
      const abort = new AbortController();
      const timer = setInterval(() => {
        heartbeat({ step: step() });
        if (cancelled()) abort.abort(new Error('cancelled'));
      }, 2_000);
      try {
        // Rows inserted before a failure stay in the shadow: the retried range inserts those keys again at
        // the same version L, which the shadow's ReplacingMergeTree collapses.
        const r = await ch.command({ query: pullRangeSql(t, source, pgAddress(db), BigInt(input.lsnFloor)), abort_signal: abort.signal });
        // Written rows count each row twice: into the Null input table and through its one view into the shadow.
        return { rows: Math.round(Number(r.summary?.written_rows ?? 0) / 2) };
      } finally {
        clearInterval(timer);
      }
    },

    /** Catch up, copy what streamed since S0 into the shadow, swap. A retry after the swap does nothing. */
    async swapResync(input: { source: string; lsnFloor: string; target?: ResyncTarget }): Promise<SwapResult> {
      const resolved = await resolve(input.source, input.target);
      const { t } = resolved;
      const floor = BigInt(input.lsnFloor);
      const mark = swapMark(floor);
      if ((await tableComment(ch, t, t.current.name)) === mark) return { streamedCopied: 0, keptRows: 0, swapped: true };
      const before = await shadowOutdated(ch, t);
      if (before) return { streamedCopied: 0, keptRows: 0, swapped: false, shapeChanged: before };
      // An ALTER from here on is the next schema change's: ClickHouse's copy and the shadow keep the shape they share.
      await catchUpTo(resolved, await walInsertLsn(resolved), 'before the swap');
      const streamed = await count(ch, `SELECT count() AS n FROM ${t.current.name} WHERE version > ${floor}`);
      await ch.command({ query: copyStreamedSql(t.current.name, t.resync.shadow.name, floor) });
      const keep = keepUnchangedSql(t, t.current.name, t.resync.shadow.name, floor);
      // No live row below L (without FINAL a superset: none means none), as on a first load: nothing to keep,
      // and the statements would still hash every loaded row.
      let keptRows = 0;
      if ((await count(ch, keep.live)) > 0) {
        await ch.command({ query: keep.copy });
        keptRows = await count(ch, keep.count);
        await ch.command({ query: keep.drop, clickhouse_settings: { lightweight_deletes_sync: "2" } });
      }
      await ch.command({ query: `ALTER TABLE ${t.resync.shadow.name} MODIFY COMMENT '${mark}'` });
      await ch.command({ query: `EXCHANGE TABLES ${t.current.name} AND ${t.resync.shadow.name}` });
      return { streamedCopied: streamed, keptRows, swapped: true };
    },

    /** After the swap: late rows of the old copy, the history, the old copy dropped. */
    async completeResync(input: { source: string; lsnFloor: string; target?: ResyncTarget }): Promise<ResyncOutcome> {
      const resolved = await resolve(input.source, input.target);
      const { t } = resolved;
      const floor = BigInt(input.lsnFloor);
      const old = t.resync.shadow.name;
      const hasOld = (await tableComment(ch, t, old)) !== undefined;
      let lateCopied = 0;
      let changedRows = 0;
      let deletedRows = 0;
      if (hasOld) {
        // Every message consumed before the swap has been inserted (into the old copy, if it was resolved before the swap).
        await catchUpTo(resolved, await walInsertLsn(resolved), 'after the swap');
        await ch.command({ query: `DROP VIEW IF EXISTS ${t.resync.view.name}` });
        const late = lateRowsSql(t, old, floor);
        lateCopied = await count(ch, late.count);
        if (lateCopied > 0) await ch.command({ query: late.copy });
        // Without FINAL a superset of the live rows: none means none (a first load's case, its history written in bulk).
        const oldEmpty = (await count(ch, `SELECT count() AS n FROM ${old} WHERE is_deleted = 0`)) === 0;
        const h = historySql(t, old, floor, oldEmpty);
        const changesBefore = await count(ch, `SELECT count() AS n FROM ${t.changes.name} FINAL WHERE lsn = ${floor}`);
        // Repeated after a crash between the two statements, the first adds nothing new: the change log collapses (key, lsn).
        await ch.command({ query: h.changed });
        const afterChanged = await count(ch, `SELECT count() AS n FROM ${t.changes.name} FINAL WHERE lsn = ${floor}`);
        if (h.deleted) await ch.command({ query: h.deleted });
        const afterDeleted = await count(ch, `SELECT count() AS n FROM ${t.changes.name} FINAL WHERE lsn = ${floor}`);
        changedRows = afterChanged - changesBefore;
        deletedRows = afterDeleted - afterChanged;
        await ch.command({ query: `DROP TABLE IF EXISTS ${t.resync.input.name}` });
        await ch.command({ query: `DROP TABLE IF EXISTS ${old}` });
      }
      // The pipeline's capture gaps of this table (connectors/clickhouse/capture-gaps.ts) now have their reload; another pipeline's table has none.
      if (!input.target) {
        await markReloaded(ch, input.source, input.lsnFloor).catch((err: unknown) => {
          // A stack whose ClickHouse migrations predate capture_gaps has recorded none (npm run setup creates the table).
          if ((err as { type?: string }).type !== 'UNKNOWN_TABLE') throw err;
        });
      }
      await sourceDb(resolved).query(dropLoadObjectsSql(input.source));
      await ch.command({ query: `ALTER TABLE ${t.current.name} MODIFY COMMENT ''` });
      // Live keys whose row is the loaded one, at L or at the unchanged live row's version (a range read twice inserts a key twice until merges collapse it).
      const loadedRows = await count(ch, `SELECT count() AS n FROM ${t.current.name} FINAL WHERE version <= ${floor} AND is_deleted = 0`);
      return { loadedRows, changedRows, deletedRows, lateCopied };
    },

    /** Cancelled or failed before the swap: the shadow objects go, the live copy stays as it was. */
    async abandonResync(input: { source: string; target?: ResyncTarget }): Promise<void> {
      const found = await lookup(input.source, input.target);
      if (!found) return; // nothing was created for a table that is not captured
      const { t } = found;
      // After the swap the shadow name holds the old copy, which completeResync still needs.
      if ((await tableComment(ch, t, t.current.name))?.startsWith(swapMark(''))) return;
      await dropShadow(ch, t);
      await sourceDb(found).query(dropLoadObjectsSql(input.source));
    },
  };
}

export type ResyncActivities = ReturnType<typeof createResyncActivities>;
