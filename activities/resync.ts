/**
 * Resync activities: rebuild one table's ClickHouse copy straight from
 * Postgres, beside the live copy, and swap it in (workflows/resync-table.ts
 * orders them; catalog/resync-sql.ts says why the versions make it exact).
 *
 *   prepareResync   fresh shadow objects (an empty live copy: also a first
 *                   load's history, catalog/resync-sql.ts); S0, then wait for
 *                   the transactions open at S0 to end; P, the slot nudged
 *                   past it; the block ranges
 *   loadResyncRange one range, pulled by the ClickHouse host from Postgres
 *                   (postgresql() over a view rendering Debezium's wire
 *                   values: resync-load.ts) into the Null input table,
 *                   whose view writes the shadow
 *   swapResync      ClickHouse caught up to P; rows streamed since S0 copied into
 *                   the shadow; loaded rows equal to the live ones keep their
 *                   version; EXCHANGE TABLES (queries see the old copy until
 *                   here)
 *   completeResync  wait until every message consumed before the swap is in,
 *                   copy what reached the old copy meanwhile, history rows
 *                   (a first load's moved in),
 *                   drop the old copy; the table's capture gaps name the
 *                   reload
 *   abandonResync   drop the shadow objects; the live copy and its history
 *                   are never touched
 *
 * Each is idempotent: a retry repeats it to the same result.
 *
 * Every step reaches every ClickHouse host of the replica set
 * (resync-hosts.ts: a host that does not answer fails the step, naming it);
 * the per-host swap and completion are resync-steps.ts; each host pulls
 * every range itself (resync-load.ts says why that stays exact).
 *
 * The table is resolved through the live catalog (what the main pipeline
 * captures), or, when the input carries a `target`, from that: the
 * declaration, object names and slot of a table another pipeline on the same
 * stack captures (the benchmark's own, in ClickHouse database `bench`), which
 * the live catalog must not hold (the main connector would capture it too).
 */
import { createSql } from '../catalog/clickhouse-create.ts';
import type { TableObjects } from '../catalog/object-types.ts';
import { validationTransforms } from '../catalog/column-options.ts';
import type { SourceTable } from '../catalog/introspect.ts';
import { deriveOptions, deriveTables } from '../catalog/derive.ts';
import { groupSource } from '../connectors/postgres/sources.ts';
import { DEFAULT_RANGE_ROWS, splitBlocks, swapMark } from '../catalog/resync-sql.ts';
import { dropLoadObjectsSql, loadSource } from '../catalog/resync-load-sql.ts';
import { groupOf, parseDeclarations, type TableDeclaration } from '../catalog/declaration.ts';
import { catalogEntries, isCaptured } from '../catalog/store.ts';
import { validationSpec } from '../catalog/validation-spec.ts';
import type { ValidationSpec } from '../shared/validation.ts';
import type { Endpoints } from '../config/load.ts';
import type { ActivityDeps } from './deps.ts';
import { IngestErrorType, permanentFailure } from '../shared/errors.ts';
import { cancelled, heartbeat } from './heartbeat.ts';
import { nudgeSlot, waitForCatchUp, waitUntilDrained } from './validation/catch-up.ts';
import { lsnToBigInt } from '../shared/lsn.ts';
import type { RangeInput, ResyncOutcome, ResyncPlan, ResyncTarget, SwapResult } from './resync-contract.ts';
import { liveCopyBehind, shadowOutdated } from './resync-shape.ts';
import { withResyncHosts, type ResyncHost } from './resync-hosts.ts';
import { ensureLoadSource, pullRangeOnHosts } from './resync-load.ts';
import { completeOnHost, dropShadow, prepareFirstLoadHistory, swapOnHost, tableComment, type HostTable } from './resync-steps.ts';

export type { RangeInput, ResyncOutcome, ResyncPlan, ResyncTarget, SwapResult };

export type ResyncDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka' | 'endpoints'>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createResyncActivities(deps: ResyncDeps) {
  const { endpoints: env } = deps;

  type Resolved = { src: SourceTable; t: TableObjects; transforms: ReturnType<typeof validationTransforms>; declaration: TableDeclaration; slot?: string };

  /** The captured table's source, objects and column transforms (on the host `e` names), or undefined when it is not captured. */
  async function lookup(source: string, target?: ResyncTarget, e: Endpoints = env): Promise<Resolved | undefined> {
    let declaration: TableDeclaration | undefined;
    if (target) {
      try {
        [declaration] = parseDeclarations([target.declaration], 'resync target');
      } catch (err) {
        throw permanentFailure(IngestErrorType.InvalidInput, err instanceof Error ? err.message : String(err));
      }
      if (declaration?.source !== source) throw permanentFailure(IngestErrorType.InvalidInput, `the target declares ${declaration?.source}, not ${source}`);
    } else {
      declaration = (await catalogEntries(deps.pool)).find((x) => x.declaration.source === source && isCaptured(x.state))?.declaration;
    }
    if (!declaration) return undefined;
    const [derived] = await deriveTables(deps.pool, [declaration], { ...deriveOptions(e, target?.names), sourceOf: (group) => groupSource(env, group, deps.pool) });
    const { source: src, objects: t } = derived!;
    return { src, t, transforms: validationTransforms(declaration, src), declaration, ...(target ? { slot: target.slot } : {}) };
  }

  async function resolve(source: string, target?: ResyncTarget, e: Endpoints = env): Promise<Resolved> {
    const found = await lookup(source, target, e);
    if (!found) throw permanentFailure(IngestErrorType.TableNotCaptured, `${source} is not captured (astros tables list shows what is)`);
    return found;
  }

  /** The table's source database (its group's: connectors/postgres/sources.ts). */
  const sourceDb = (r: Resolved) => groupSource(env, groupOf(r.declaration), deps.pool);

  const specOf = (r: Resolved): ValidationSpec => validationSpec(r.declaration, r.src, r.t.names, r.slot !== undefined ? { slot: r.slot } : {});

  /** Every host the resync of this table reaches (resync-hosts.ts): all of the replica set, or ch1 for another pipeline's table. */
  const onHosts = <T>(target: ResyncTarget | undefined, work: (hosts: ResyncHost[]) => Promise<T>, skipDown?: (m: string) => void): Promise<T> =>
    withResyncHosts(deps, { ch1Only: target !== undefined, ...(skipDown ? { skipDown } : {}) }, work);

  /** Catch-up as validation does it: the slot confirmed past `lsn` and this host's consumer group at the topic's end. */
  async function catchUpTo(h: ResyncHost, r: Resolved, lsn: bigint, what: string): Promise<void> {
    const spec = { ...specOf(r), maxWaitMs: 10 * 60_000 };
    const on = h.env.clickhouseReplicas.length > 1 ? ` on ${h.replica.name}` : '';
    heartbeat({ step: `waiting for ClickHouse${on} to catch up (${what})` });
    const c = await waitForCatchUp({ ...deps, clickhouse: h.ch, pool: sourceDb(r) }, spec, r.t.current.name, lsn);
    if (!c.caughtUp) throw new Error(`ClickHouse${on} did not catch up with Postgres (${what}): ${c.detail}`);
  }

  const walInsertLsn = async (r: Resolved): Promise<bigint> => {
    const { rows } = await sourceDb(r).query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    return lsnToBigInt(rows[0]!.lsn);
  };

  /** Every message in this host's topic now inserted by its consumer group(s): no insert into a table is still in flight. */
  async function drainOn(h: ResyncHost, r: Resolved, what: string): Promise<void> {
    const c = specOf(r).catchUp;
    if (c.mode !== 'slot' || !c.kafka) throw new Error(`resync needs catch-up through the slot and Kafka, not ${c.mode}`);
    const on = h.env.clickhouseReplicas.length > 1 ? ` on ${h.replica.name}` : '';
    heartbeat({ step: `waiting for ClickHouse${on} to insert what it consumed (${what})` });
    const d = await waitUntilDrained({ ...deps, clickhouse: h.ch, pool: sourceDb(r) }, c.kafka, 10 * 60_000);
    if (!d.caughtUp) throw new Error(`ClickHouse${on} did not catch up with Kafka (${what}): ${d.detail}`);
  }

  /**
   * The table on each host: its objects with the host's consumer groups, catch-up through them to `lsn`
   * (default: Postgres' position now), and the drain of what they consumed.
   */
  async function hostTables(hosts: ResyncHost[], source: string, target: ResyncTarget | undefined, lsn?: bigint): Promise<HostTable[]> {
    const out: HostTable[] = [];
    for (const h of hosts) {
      const r = await resolve(source, target, h.env);
      out.push({ ch: h.ch, t: r.t, catchUp: async (what) => catchUpTo(h, r, lsn ?? (await walInsertLsn(r)), what), drain: (what) => drainOn(h, r, what) });
    }
    return out;
  }

  /** A host's message, named when there are several. */
  const onHost = (h: ResyncHost, hosts: ResyncHost[], m: string): string => (hosts.length > 1 ? `${h.replica.name}: ${m}` : m);

  return {
    /** Fresh shadow objects on every host, the version floor L and the ranges. */
    async prepareResync(input: { source: string; rangeRows?: number; target?: ResyncTarget }): Promise<ResyncPlan> {
      const resolved = await resolve(input.source, input.target);
      const { src, t } = resolved;
      // Its copies, counts and EXCHANGE read and write one host's tables: on a cluster they would see one shard.
      if (t.cluster) throw permanentFailure(IngestErrorType.InvalidInput, `resync is built for one ClickHouse host; CLICKHOUSE_CLUSTER=${t.cluster} is not supported by it yet`);
      const behind = await onHosts(input.target, async (hosts) => {
        for (const h of hosts) {
          const b = await liveCopyBehind(h.ch, t);
          if (b) return onHost(h, hosts, b);
        }
        for (const h of hosts) {
          await dropShadow(h.ch, t);
          for (const o of [t.resync.shadow, t.resync.input, t.resync.view]) await h.ch.command({ query: createSql(o, false) });
        }
        return undefined;
      });
      if (behind) return { source: input.source, lsnFloor: '0', ranges: [], estimatedRows: 0, waitedFor: 0, shapeChanged: behind };
      const db = sourceDb(resolved);
      await db.query(dropLoadObjectsSql(input.source));

      const s0 = await walInsertLsn(resolved);
      // An empty live copy: perhaps a first load, whose history is written during the load (firstLoadHistorySql;
      // the swap decides, once every change below S0 is in).
      await onHosts(input.target, async (hosts) => {
        for (const h of hosts) await prepareFirstLoadHistory(h.ch, t, s0 - 1n);
      });
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
      // Every change below S0 is in a transaction that has ended by now: once ClickHouse has what
      // committed before here, its copy holds every change at or below L (the swap's catch-up). The
      // nudge lets an idle slot get past here during the load, not at the swap (catch-up.ts).
      const caughtUpAt = await walInsertLsn(resolved);
      await nudgeSlot(db, caughtUpAt);
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
      const ranges = splitBlocks(blocks, (input.rangeRows ?? DEFAULT_RANGE_ROWS) / rowsPerBlock);
      return { source: input.source, ...(input.target ? { spec: specOf(resolved) } : {}), lsnFloor: String(s0 - 1n), catchUpLsn: String(caughtUpAt), ranges, estimatedRows, waitedFor };
    },

    /** One block range, pulled from Postgres by every host into its shadow. */
    async loadResyncRange(input: RangeInput): Promise<{ rows: number; shapeChanged?: string }> {
      const resolved = await resolve(input.source, input.target);
      const { src, t, transforms } = resolved;
      return onHosts(input.target, async (hosts) => {
        for (const h of hosts) {
          const outdated = await shadowOutdated(h.ch, t);
          if (outdated) return { rows: 0, shapeChanged: onHost(h, hosts, outdated) };
        }
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
          return { rows: await pullRangeOnHosts(hosts, t, source, db, BigInt(input.lsnFloor), abort.signal, (h, m) => onHost(h, hosts, m)) };
        } finally {
          clearInterval(timer);
        }
      });
    },

    /** On every host: catch up, copy what streamed since S0 into the shadow, swap. A host already swapped does nothing again. */
    async swapResync(input: { source: string; lsnFloor: string; catchUpLsn?: string; target?: ResyncTarget }): Promise<SwapResult> {
      const floor = BigInt(input.lsnFloor);
      return onHosts(input.target, async (hosts) => {
        // A plan from before catchUpLsn existed catches up to Postgres' position now (later than needed, as exact).
        const tables = await hostTables(hosts, input.source, input.target, input.catchUpLsn ? BigInt(input.catchUpLsn) : undefined);
        // Every shadow checked before any EXCHANGE: a moved shape swaps on no host.
        for (const [i, h] of tables.entries()) {
          if ((await tableComment(h.ch, h.t, h.t.current.name)) === swapMark(floor)) continue;
          const outdated = await shadowOutdated(h.ch, h.t);
          if (outdated) return { streamedCopied: 0, keptRows: 0, swapped: false, shapeChanged: onHost(hosts[i]!, hosts, outdated) };
        }
        const results: SwapResult[] = [];
        for (const [i, h] of tables.entries()) {
          const r = await swapOnHost(h, floor);
          if (r.shapeChanged) return { ...r, shapeChanged: onHost(hosts[i]!, hosts, r.shapeChanged) };
          results.push(r);
        }
        // The figures of ch1 (each host holds the same rows).
        return results[0]!;
      });
    },

    /** After the swap, on every host: late rows of the old copy, the history, the old copy dropped. */
    async completeResync(input: { source: string; lsnFloor: string; target?: ResyncTarget }): Promise<ResyncOutcome> {
      const floor = BigInt(input.lsnFloor);
      // The load's Postgres objects are done with once every range is in (a retry drops nothing more).
      await sourceDb(await resolve(input.source, input.target)).query(dropLoadObjectsSql(input.source));
      return onHosts(input.target, async (hosts) => {
        const outcomes: ResyncOutcome[] = [];
        for (const h of await hostTables(hosts, input.source, input.target)) outcomes.push(await completeOnHost(h, floor, input.target ? undefined : input.source));
        // The figures of ch1 (each host holds the same rows).
        return outcomes[0]!;
      });
    },

    /** Cancelled or failed before the swap: the shadow objects go on every host that answers, the live copies stay as they were. */
    async abandonResync(input: { source: string; target?: ResyncTarget }): Promise<void> {
      const found = await lookup(input.source, input.target);
      if (!found) return; // nothing was created for a table that is not captured
      const { t } = found;
      // A host that does not answer keeps its shadow objects until the next resync drops them: nothing writes into them.
      await onHosts(input.target, async (hosts) => {
        for (const h of hosts) {
          // After the swap the shadow name holds the old copy, which completeResync still needs.
          if ((await tableComment(h.ch, t, t.current.name))?.startsWith(swapMark(''))) continue;
          await dropShadow(h.ch, t);
        }
      }, (m) => heartbeat({ step: `abandoning: ${m}` }));
      await sourceDb(found).query(dropLoadObjectsSql(input.source));
    },
  };
}

export type ResyncActivities = ReturnType<typeof createResyncActivities>;
