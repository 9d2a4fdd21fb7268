/**
 * Our pipeline (Postgres -> Debezium -> Kafka -> ClickHouse Kafka engine ->
 * MVs) on public.bench_cdc: sustained changes/s, per-change latency and CPU
 * per change, single-change latency at idle, and one bulk UPDATE of a whole
 * table (public.bench_cdc, and public.bench_cdc_full with REPLICA IDENTITY FULL).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { sleep } from './baselines.ts';
import { cpuDelta, cpuSnapshot, idleRate, perChange, type CpuDelta, type CpuPerChange, type IdleRate } from './cpu.ts';
import { appliedChanges, kafkaPosition, startLagSampler, type BenchTable, type LagSample } from './lag.ts';
import { singleChangeLatency, type LatencySamples } from './latency.ts';
import { updateStages, type UpdateStages } from './update-stages.ts';
import { names } from './objects.ts';
import { runWorkload, type TxMode } from './workload.ts';

export interface Deps {
  pool: pg.Pool;
  ch: ClickHouseClient;
  admin: Admin;
  pgUrl: string;
  /** the dev stack's pidfiles (CPU per component) */
  pidDir: string;
}

/**
 * After the last change is visible the window stays open this long: the
 * work a burst leaves behind (offset commits, merges of the parts it wrote,
 * collections) is part of its cost; the idle rate is subtracted for it too.
 */
const CPU_TAIL_MS = 2_000;

export interface SustainedResult {
  mode: TxMode;
  changes: number;
  commitMs: number;
  /** changes/s committed by the workload */
  commitPerSec: number;
  /** workload start -> last change visible in ClickHouse */
  visibleMs: number;
  changesPerSec: number;
  drainAfterCommitMs: number;
  /** per-change commit (Postgres commit time) -> visible (ClickHouse insert time), ms */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** 1st..99th percentile of the per-change latency, ms (for the distribution plot) */
  latencyCdf: number[];
  /** current state FINAL equals the workload's end state */
  stateOk: boolean;
  lag: LagSample[];
  /** CPU per change per component, workload start -> all visible (+ a short tail) */
  cpu: CpuPerChange;
  /** visible changes per 250 ms bin since the workload started */
  visibleSeries: { t: number; n: number }[];
  commitSeries: { t: number; total: number }[];
}

/** Wait until ClickHouse has consumed everything in the topic (offset lag 0, twice in a row). */
export async function waitIdle(admin: Admin, timeoutMs = 120_000, t: BenchTable = names): Promise<void> {
  const end = Date.now() + timeoutMs;
  let zero = 0;
  while (zero < 2) {
    const p = await kafkaPosition(admin, t).catch(() => ({ end: 0, committed: 0 }));
    zero = p.end - p.committed <= 0 ? zero + 1 : 0;
    if (Date.now() > end) throw new Error(`pipeline not idle after ${timeoutMs} ms (Kafka lag ${p.end - p.committed})`);
    await sleep(300);
  }
}

/** Empty a bench table on both sides (TRUNCATE is not published: publish = insert, update, delete). */
async function emptyTable(d: Deps, t: BenchTable): Promise<void> {
  await d.pool.query(`truncate public.${t.table}`);
  await waitIdle(d.admin, 120_000, t);
  for (const table of [t.changelog, t.changes, t.current]) await d.ch.command({ query: `TRUNCATE TABLE ${table}` });
}

/**
 * The idle stack's CPU use, measured twice over `seconds` each: quiet (the
 * bench does nothing) and observed (the bench's lag sampler runs, as it does
 * during every measured window: that is the rate subtracted).
 */
export async function measureIdle(d: Deps, seconds: number): Promise<{ quiet: CpuDelta; observed: CpuDelta; rate: IdleRate }> {
  await waitIdle(d.admin);
  const a = cpuSnapshot(d.pidDir);
  await sleep(seconds * 1000);
  const b = cpuSnapshot(d.pidDir);
  const sampler = startLagSampler(d, Date.now(), () => 0, 0);
  await sleep(seconds * 1000);
  const c = cpuSnapshot(d.pidDir);
  await sampler.stop();
  const observed = cpuDelta(b, c);
  return { quiet: cpuDelta(a, b), observed, rate: idleRate(observed) };
}

export async function oursSustained(
  d: Deps,
  spec: { changes: number; mode: TxMode; cycleRows: number; concurrency: number; timeoutMs: number },
  idle: IdleRate,
  log: (m: string) => void,
): Promise<SustainedResult> {
  const t = `public.${names.table}`;
  await emptyTable(d, names);
  let committed = 0;
  const startMs = Date.now();
  const cpu0 = cpuSnapshot(d.pidDir);
  const sampler = startLagSampler(d, startMs, () => committed, 0);
  const w = await runWorkload(d.pgUrl, { table: t, ...spec }, (n) => (committed = n));
  log(`  committed ${w.changes} changes in ${w.endMs - w.startMs} ms; waiting for ClickHouse`);
  // The sampler's count is enough to know when everything arrived: no second poller to load ClickHouse.
  const deadline = Date.now() + spec.timeoutMs;
  while ((sampler.latest()?.applied ?? 0) < w.changes) {
    if (Date.now() > deadline) {
      await sampler.stop();
      throw new Error(`ClickHouse applied ${await appliedChanges(d.ch)} of ${w.changes} changes after ${spec.timeoutMs} ms`);
    }
    await sleep(50);
  }
  await sleep(CPU_TAIL_MS);
  const cpu = perChange(cpuDelta(cpu0, cpuSnapshot(d.pidDir)), idle, w.changes);
  const lag = await sampler.stop();
  const q = async <T>(query: string): Promise<T[]> => (await d.ch.query({ query, format: 'JSONEachRow' })).json<T>();
  const levels = Array.from({ length: 99 }, (_, i) => ((i + 1) / 100).toFixed(2)).join(', ');
  const lat = msBetween('commit_ts', 'ingested_at');
  // Int64 results arrive as JSON strings.
  const [agg] = await q<{ last: string; p: string[]; mx: string }>(
    `SELECT toUnixTimestamp64Milli(max(ingested_at)) AS last, quantilesExact(0.5, 0.95, 0.99)(${lat}) AS p, max(${lat}) AS mx
       FROM ${names.changelog}`,
  );
  const [cdf] = await q<{ c: string[] }>(`SELECT quantilesExact(${levels})(${lat}) AS c FROM ${names.changelog}`);
  const [state] = await q<{ n: string; ok: string }>(
    `SELECT count() AS n, countIf(v = 1) AS ok FROM ${names.current} FINAL WHERE is_deleted = 0`,
  );
  const bins = await q<{ b: string; n: string }>(
    `SELECT intDiv(toUnixTimestamp64Milli(ingested_at) - ${startMs}, 250) AS b, count() AS n
       FROM ${names.changelog} GROUP BY b ORDER BY b`,
  );
  const lastMs = Number(agg!.last);
  const visibleMs = lastMs - w.startMs;
  return {
    mode: spec.mode,
    changes: w.changes,
    commitMs: w.endMs - w.startMs,
    commitPerSec: w.changes / ((w.endMs - w.startMs) / 1000),
    visibleMs,
    changesPerSec: w.changes / (visibleMs / 1000),
    drainAfterCommitMs: lastMs - w.endMs,
    latencyMs: { p50: Number(agg!.p[0]), p95: Number(agg!.p[1]), p99: Number(agg!.p[2]), max: Number(agg!.mx) },
    latencyCdf: cdf!.c.map(Number),
    stateOk: Number(state!.n) === w.expectedLive && Number(state!.ok) === w.expectedLive,
    lag,
    cpu,
    visibleSeries: bins.map((r) => ({ t: Number(r.b) * 250, n: Number(r.n) })),
    commitSeries: thin(w.commits.map((c) => ({ t: c.t - startMs, total: c.total })), 400),
  };
}

export interface BulkUpdateResult {
  rows: number;
  /** the UPDATE statement's own time (one transaction), ms */
  commitMs: number;
  /** COMMIT returned -> the last of its changes visible in ClickHouse, ms */
  visibleAfterCommitMs: number;
  changesPerSec: number;
  /** every row's update arrived: current state FINAL has v = 1 everywhere */
  stateOk: boolean;
  cpu: CpuPerChange;
  stages: UpdateStages;
}

/**
 * One UPDATE of every row of a table in one transaction, as an operator's
 * backfill would: `rows` rows are inserted first (one transaction, streamed
 * and waited for, not measured), then updated; measured from the UPDATE's
 * start until its last change is visible.
 */
export async function oursBulkUpdate(d: Deps, t: BenchTable, rows: number, idle: IdleRate, timeoutMs: number): Promise<BulkUpdateResult> {
  await emptyTable(d, t);
  const waitApplied = async (n: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await appliedChanges(d.ch, t);
      if (got >= n) return;
      if (Date.now() > deadline) throw new Error(`${t.changelog}: ${got} of ${n} changes after ${timeoutMs} ms`);
      await sleep(250);
    }
  };
  await d.pool.query(`insert into public.${t.table} (id, v, payload) select g, 0, repeat(md5(g::text), 2) from generate_series(1, $1::bigint) g`, [rows]);
  await waitApplied(rows);
  await waitIdle(d.admin, 120_000, t);
  const cpu0 = cpuSnapshot(d.pidDir);
  const sampler = startLagSampler(d, Date.now(), () => rows, rows, t);
  const start = Date.now();
  await d.pool.query(`update public.${t.table} set v = v + 1, updated_at = now()`);
  const committedAt = Date.now();
  const deadline = committedAt + timeoutMs;
  while ((sampler.latest()?.applied ?? 0) < rows) {
    if (Date.now() > deadline) {
      await sampler.stop();
      throw new Error(`${t.changelog}: the update's changes not all visible after ${timeoutMs} ms`);
    }
    await sleep(50);
  }
  await sleep(CPU_TAIL_MS);
  const cpu = perChange(cpuDelta(cpu0, cpuSnapshot(d.pidDir)), idle, rows);
  const stages = await updateStages(d.ch, t, await sampler.stop(), start);
  const rs = await d.ch.query({
    query: `SELECT toUnixTimestamp64Milli(max(ingested_at)) AS last, (SELECT countIf(v = 1) FROM ${t.current} FINAL WHERE is_deleted = 0) AS ok FROM ${t.changelog}`,
    format: 'JSONEachRow',
  });
  const [agg] = await rs.json<{ last: string; ok: string }>();
  const visibleAfterCommitMs = Number(agg!.last) - committedAt;
  return {
    rows,
    commitMs: committedAt - start,
    visibleAfterCommitMs,
    changesPerSec: rows / ((Number(agg!.last) - start) / 1000),
    stateOk: Number(agg!.ok) === rows,
    cpu,
    stages,
  };
}

/**
 * Milliseconds from one DateTime64(3) column to another: the generated shape
 * records the commit (Debezium source.ts_ms), Debezium's processing (ts_ms)
 * and the ClickHouse insert (now64(3)) in milliseconds.
 */
const msBetween = (from: string, to: string) => `toUnixTimestamp64Milli(${to}) - toUnixTimestamp64Milli(${from})`;

/**
 * Where one change's time went, from its change-log row: Postgres commit ->
 * Debezium (capture), then Debezium -> ClickHouse insert (deliver: Kafka append
 * and consume together; the change log has no Kafka timestamp to split them).
 */
export interface ChangeTiming {
  id: number;
  totalMs: number;
  captureMs: number;
  deliverMs: number;
}

export async function changeTimings(ch: ClickHouseClient, ids: number[]): Promise<ChangeTiming[]> {
  const rs = await ch.query({
    query: `SELECT id, ${msBetween('commit_ts', 'ingested_at')} AS totalMs, ${msBetween('commit_ts', 'captured_ts')} AS captureMs,
                   ${msBetween('captured_ts', 'ingested_at')} AS deliverMs
              FROM ${names.changelog} WHERE id IN ({ids:Array(Int64)}) ORDER BY lsn`,
    query_params: { ids },
    format: 'JSONEachRow',
  });
  return (await rs.json<Record<keyof ChangeTiming, string | number>>()).map((r) => ({
    id: Number(r.id),
    totalMs: Number(r.totalMs),
    captureMs: Number(r.captureMs),
    deliverMs: Number(r.deliverMs),
  }));
}

/**
 * After the Kafka table or the connector changed: one change end to end (a
 * new consumer may wait for a group rebalance). A marker is committed every
 * 10 s until one arrives, so a marker committed before the connector's task
 * streams is not waited for in vain.
 */
export async function warmUp(d: Pick<Deps, 'pool' | 'ch'>, t: BenchTable = names, timeoutMs = 180_000): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    const r = await singleChangeLatency({ pool: d.pool, table: `public.${t.table}`, samples: 1, timeoutMs: 10_000, gapMs: [0, 0], isVisible: (id) => visibleInCurrent(d, id, t) });
    if (r.timeouts === 0) return performance.now() - start;
  }
  throw new Error(`warm-up: no change reached ${t.current} within ${timeoutMs} ms`);
}

async function visibleInCurrent(d: Pick<Deps, 'ch'>, id: number, t: BenchTable = names): Promise<boolean> {
  const rs = await d.ch.query({ query: `SELECT count() AS n FROM ${t.current} WHERE id = {id:Int64}`, query_params: { id }, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]?.n ?? 0) > 0;
}

export async function oursSingleLatency(d: Deps, samples: number): Promise<LatencySamples & { serverMs: number[]; stages: Omit<ChangeTiming, 'id' | 'totalMs'>[] }> {
  await waitIdle(d.admin);
  const r = await singleChangeLatency({
    pool: d.pool,
    table: `public.${names.table}`,
    samples,
    isVisible: (id) => visibleInCurrent(d, id),
  });
  // The same samples measured without polling: ClickHouse insert time - Postgres commit time.
  const server = new Map((await changeTimings(d.ch, r.ids)).map((x) => [x.id, x]));
  return {
    ...r,
    serverMs: r.ids.map((id) => server.get(id)?.totalMs ?? NaN),
    stages: r.ids.map((id) => ({ captureMs: server.get(id)?.captureMs ?? NaN, deliverMs: server.get(id)?.deliverMs ?? NaN })),
  };
}

function thin<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const step = xs.length / max;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(xs[Math.floor(i * step)]!);
  out.push(xs[xs.length - 1]!);
  return out;
}
