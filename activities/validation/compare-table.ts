/**
 * compareTable: prove that a Postgres table and its ClickHouse copy agree at
 * one consistent point, value by value.
 *
 * Consistent point. It opens a REPEATABLE READ, READ ONLY transaction and, in
 * its first statement, reads `pg_current_wal_insert_lsn()`. The snapshot is
 * taken when that statement starts and the LSN is read while it runs, so
 * every transaction visible in the snapshot has its commit record below that
 * LSN: the watermark W. The same transaction is held open (with the same
 * snapshot) until the drill-down has finished, so every Postgres read of one
 * validation sees the same data.
 *
 * Then: wait until ClickHouse has caught up with W (catch-up.ts), compare
 * per-bucket checksums of the canonical rows (canonical.ts and the two
 * dialects' SQL), drill into the buckets that differ (diff.ts). A key whose
 * ClickHouse version is above W changed after the snapshot: it is counted as
 * such, not as a mismatch; so is a key whose row came from a transaction
 * the snapshot does not see (visibility.ts).
 */
import type { ClickHouseClient } from '../../connectors/clickhouse/client.ts';
import type { ActivityDeps } from '../deps.ts';
import { IngestErrorType, permanentFailure } from '../../shared/errors.ts';
import { heartbeat } from '../heartbeat.ts';
import { waitForCatchUp } from './catch-up.ts';
import { chBucketsSql, chDrillSql, chIdent, canonicalRows } from './clickhouse-sql.ts';
import { diffBuckets, diffRows, type BucketSum, type RowDiffResult, type SourceRow } from './diff.ts';
import { lsnToBigInt } from '../../shared/lsn.ts';
import { parsePgSnapshot, setAsideInvisible, type PgSnapshot } from './visibility.ts';
import { planTable } from './plan.ts';
import { pgBucketsSql, pgDrillSql } from './postgres-sql.ts';
import { findings, formatSummary, lagFindings, type Findings } from './report.ts';
import type { CompareTableInput, ValidationReport, ValidationSpec } from '../../shared/validation.ts';
import { SourceTableMissing } from '../../catalog/introspect.ts';
import { TableNotCaptured, TableStopped, validationSpecFor } from '../../catalog/validation-spec.ts';
import { INGEST_TABLE } from '../../shared/workflows.ts';
import { groupSource } from '../../connectors/postgres/sources.ts';

/** The pipeline's Postgres, ClickHouse and Kafka, and its consumer group prefix (for specs derived from the catalog). */
export type ValidationDeps = Pick<ActivityDeps, 'pool' | 'clickhouse' | 'kafka'> & { endpoints: Pick<ActivityDeps['endpoints'], 'groupPrefix'> & Partial<Pick<ActivityDeps['endpoints'], 'groupDatabases' | 'clickhouseCluster'>> };

const toSums = (rows: { bucket: number | string; rows: number | string; sum: string }[]): BucketSum[] =>
  rows.map((r) => ({ bucket: Number(r.bucket), rows: Number(r.rows), sum: r.sum }));

async function specFromCatalog(deps: ValidationDeps, table: string): Promise<ValidationSpec> {
  try {
    return await validationSpecFor(deps.pool, table, deps.endpoints.groupPrefix, (group) => groupSource(deps.endpoints, group, deps.pool));
  } catch (err) {
    if (err instanceof TableNotCaptured || err instanceof SourceTableMissing) throw permanentFailure(IngestErrorType.InvalidInput, err.message);
    if (err instanceof TableStopped) throw permanentFailure(IngestErrorType.TableStopped, err.message);
    throw err;
  }
}

/**
 * Keys whose ClickHouse row is below the watermark yet came from a transaction
 * that committed after the snapshot (it wrote before W, committed after):
 * changed after the snapshot, not different. The change log knows each
 * change's transaction; only the few differing versions are looked up.
 */
async function setAsideLateCommits(ch: ClickHouseClient, database: string, changesTable: string, rows: RowDiffResult, snapshot: PgSnapshot): Promise<RowDiffResult> {
  const versions = [...new Set(rows.diffs.map((d) => d.version).filter((v): v is string => v !== undefined && v !== '0'))];
  if (versions.length === 0) return rows;
  const found = await canonicalRows<{ v: string; tx: string }>(
    ch,
    `SELECT DISTINCT toString(lsn) AS v, toString(tx_id) AS tx FROM ${chIdent(database)}.${chIdent(changesTable)} WHERE lsn IN (SELECT toUInt64(arrayJoin({versions:Array(String)}))) AND tx_id IS NOT NULL`,
    { versions },
  );
  const { kept, setAside } = setAsideInvisible(rows.diffs, new Map(found.map((r) => [r.v, BigInt(r.tx)])), snapshot);
  return { diffs: kept, changedAfterSnapshot: rows.changedAfterSnapshot + setAside };
}

/**
 * The whole comparison inside one Postgres snapshot. Exported without the
 * activity wrapper for the benchmark and scripts.
 */
export async function compareTable(deps: ValidationDeps, input: CompareTableInput): Promise<ValidationReport> {
  const ch = deps.clickhouse;
  const spec = input.spec ?? (await specFromCatalog(deps, input.table ?? INGEST_TABLE));
  const started = new Date();
  const t0 = performance.now();
  const phasesMs = { snapshot: 0, catchUp: 0, checksum: 0, drillDown: 0 };
  // The table is read, and its slot nudged, in its group's source database.
  const source = { ...deps, pool: groupSource(deps.endpoints, spec.group, deps.pool) };
  const client = await source.pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    // First statement: takes the snapshot, then reads the WAL insert position (>= every visible commit).
    const { rows: lsnRows } = await client.query<{ lsn: string; snap: string }>(
      'select pg_current_wal_insert_lsn()::text as lsn, pg_current_snapshot()::text as snap',
    );
    const snapshotLsn = lsnRows[0]?.lsn ?? '0/0';
    const snapshot = parsePgSnapshot(lsnRows[0]?.snap ?? '0:0:');
    const watermark = lsnToBigInt(snapshotLsn);
    // The planner can't estimate how many buckets the GROUP BY yields, so it
    // assumes one group per row and picks sort-based aggregation, spilling to
    // disk at the default work_mem. Hash aggregation over N buckets needs
    // little memory and runs in parallel workers: 1M rows in ~1.1 s instead
    // of ~1.8 s here (bench/validate.ts). Local to this read-only transaction.
    await client.query(`set local work_mem = '64MB'`);
    await client.query('set local enable_sort = off');
    if (spec.pgParallelWorkers !== undefined) {
      await client.query(`set local max_parallel_workers_per_gather = ${Math.max(0, Math.floor(spec.pgParallelWorkers))}`);
    }
    const { plan, missingColumns } = await planTable(client, ch, spec);
    phasesMs.snapshot = Math.round(performance.now() - t0);
    heartbeat({ phase: 'snapshot', lsn: snapshotLsn });

    const t1 = performance.now();
    const waited = await waitForCatchUp(source, spec, plan.chTable, watermark);
    phasesMs.catchUp = Math.round(performance.now() - t1);

    const finish = (counts: { sourceRows: number | null; targetRows: number | null }, { outcome, ...found }: Findings): ValidationReport => {
      const r = {
        reportKey: input.reportKey,
        source: `${spec.source.schema}.${spec.source.table}`,
        target: `${spec.target.database}.${spec.target.table}${input.replica ? ` on ${input.replica}` : ''}`,
        ...(input.replica ? { replica: input.replica } : {}),
        startedAt: started.toISOString(),
        snapshotLsn,
        snapshotLsnNumber: watermark.toString(),
        catchUp: { mode: spec.catchUp.mode, caughtUp: waited.caughtUp, waitedMs: phasesMs.catchUp, detail: waited.detail },
        keyColumns: plan.key.map((c) => c.name),
        columns: plan.columns.map((c) => c.name),
        missingColumns,
        buckets: plan.buckets,
        outcome,
        ...counts,
        ...found,
        finishedAt: new Date().toISOString(),
        durationMs: Math.round(performance.now() - t0),
        phasesMs,
      };
      return { ...r, summary: formatSummary(r) };
    };
    if (!waited.caughtUp) {
      await client.query('rollback');
      return finish({ sourceRows: null, targetRows: null }, lagFindings());
    }

    // One aggregate query per engine, concurrently.
    const t2 = performance.now();
    heartbeat({ phase: 'checksum' });
    const [pgBuckets, chBuckets] = await Promise.all([
      client.query<BucketSum>(pgBucketsSql(plan)).then((r) => r.rows),
      canonicalRows<{ bucket: number; rows: number; sum: string }>(ch, chBucketsSql(plan)),
    ]);
    const bucketDiffs = diffBuckets(toSums(pgBuckets), toSums(chBuckets));
    const sourceRows = pgBuckets.reduce((n, b) => n + Number(b.rows), 0);
    const targetRows = chBuckets.reduce((n, b) => n + Number(b.rows), 0);
    phasesMs.checksum = Math.round(performance.now() - t2);

    // Drill down into the mismatching buckets, a chunk at a time: both engines list (key, hash) of those buckets only.
    // While every key found so far changed after the snapshot (a table under heavy writes), the next chunk is
    // drilled too, so such a run still ends agreeing or naming a real difference; a real one stops it.
    const t3 = performance.now();
    const chunk = spec.maxDrillBuckets ?? 256;
    let drilled = 0;
    let rows: RowDiffResult = { diffs: [], changedAfterSnapshot: 0 };
    while (drilled < bucketDiffs.length && (drilled === 0 || rows.diffs.length === 0)) {
      const buckets = bucketDiffs.slice(drilled, drilled + chunk).map((b) => b.bucket);
      drilled += buckets.length;
      heartbeat({ phase: 'drill-down', buckets: drilled, of: bucketDiffs.length });
      const [src, tgt] = await Promise.all([
        client.query<SourceRow>(pgDrillSql(plan), [buckets]).then((r) => r.rows),
        canonicalRows<{ k: string; h: string; version?: string; d: number | string }>(ch, chDrillSql(plan), { buckets }),
      ]);
      const usesLsn = spec.catchUp.mode !== 'none' && plan.versionColumn !== undefined;
      let found = diffRows(
        src,
        tgt.map((r) => ({ k: r.k, h: r.h, deleted: Number(r.d) !== 0, ...(r.version !== undefined ? { version: r.version } : {}) })),
        usesLsn ? watermark : undefined,
      );
      if (usesLsn && spec.target.changesTable) found = await setAsideLateCommits(ch, spec.target.database, spec.target.changesTable, found, snapshot);
      rows = { diffs: [...rows.diffs, ...found.diffs], changedAfterSnapshot: rows.changedAfterSnapshot + found.changedAfterSnapshot };
    }
    await client.query('commit');
    phasesMs.drillDown = Math.round(performance.now() - t3);

    const found = findings({
      bucketDiffs,
      drilledBuckets: drilled,
      rows,
      keyKinds: plan.key.map((c) => c.kind),
      maxKeys: spec.maxKeys ?? 20,
      missingColumns,
    });
    return finish({ sourceRows, targetRows }, found);
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
