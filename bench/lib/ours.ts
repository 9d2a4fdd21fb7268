/**
 * Our pipeline (Postgres -> Debezium -> Kafka -> ClickHouse Kafka engine ->
 * MVs) on public.bench_cdc: sustained changes/s and per-change latency, and
 * single-change latency at idle.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { sleep } from './baselines.ts';
import { appliedChanges, kafkaPosition, startLagSampler, type LagSample } from './lag.ts';
import { singleChangeLatency, type LatencySamples } from './latency.ts';
import { names } from './objects.ts';
import { runWorkload, type TxMode } from './workload.ts';

export interface Deps {
  pool: pg.Pool;
  ch: ClickHouseClient;
  admin: Admin;
  pgUrl: string;
}

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
  /** visible changes per 250 ms bin since the workload started */
  visibleSeries: { t: number; n: number }[];
  commitSeries: { t: number; total: number }[];
}

/** Wait until ClickHouse has consumed everything in the topic (offset lag 0, twice in a row). */
export async function waitIdle(admin: Admin, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let zero = 0;
  while (zero < 2) {
    const p = await kafkaPosition(admin).catch(() => ({ end: 0, committed: 0 }));
    zero = p.end - p.committed <= 0 ? zero + 1 : 0;
    if (Date.now() > end) throw new Error(`pipeline not idle after ${timeoutMs} ms (Kafka lag ${p.end - p.committed})`);
    await sleep(300);
  }
}

export async function oursSustained(d: Deps, spec: { changes: number; mode: TxMode; cycleRows: number; concurrency: number; timeoutMs: number }, log: (m: string) => void): Promise<SustainedResult> {
  const t = `public.${names.table}`;
  await d.pool.query(`truncate ${t}`); // not published (publish = insert, update, delete)
  await waitIdle(d.admin);
  await d.ch.command({ query: `TRUNCATE TABLE ${names.changelog}` });
  await d.ch.command({ query: `TRUNCATE TABLE ${names.current}` });
  let committed = 0;
  const startMs = Date.now();
  const sampler = startLagSampler(d, startMs, () => committed, 0);
  const w = await runWorkload(d.pgUrl, { table: t, ...spec }, (n) => (committed = n));
  log(`  committed ${w.changes} changes in ${w.endMs - w.startMs} ms; waiting for ClickHouse`);
  const deadline = Date.now() + spec.timeoutMs;
  while ((await appliedChanges(d.ch)) < w.changes) {
    if (Date.now() > deadline) {
      await sampler.stop();
      throw new Error(`ClickHouse applied ${await appliedChanges(d.ch)} of ${w.changes} changes after ${spec.timeoutMs} ms`);
    }
    await sleep(50);
  }
  await sleep(300); // one more lag sample at rest
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
    visibleSeries: bins.map((r) => ({ t: Number(r.b) * 250, n: Number(r.n) })),
    commitSeries: thin(w.commits.map((c) => ({ t: c.t - startMs, total: c.total })), 400),
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

/** After the Kafka table or the connector changed: one change end to end (a new consumer may wait for a group rebalance). */
export async function warmUp(d: Pick<Deps, 'pool' | 'ch'>, timeoutMs = 120_000): Promise<number> {
  const r = await singleChangeLatency({ pool: d.pool, table: `public.${names.table}`, samples: 1, timeoutMs, gapMs: [0, 0], isVisible: (id) => visibleInCurrent(d, id) });
  if (r.timeouts > 0) throw new Error(`warm-up: a change was not visible in ClickHouse after ${timeoutMs} ms`);
  return r.ms[0]!;
}

async function visibleInCurrent(d: Pick<Deps, 'ch'>, id: number): Promise<boolean> {
  const rs = await d.ch.query({ query: `SELECT count() AS n FROM ${names.current} WHERE id = {id:Int64}`, query_params: { id }, format: 'JSONEachRow' });
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
