/**
 * Commit-to-visible latency of the CDC pipeline as it ships (not a test):
 * makes N single-row changes in Postgres one at a time (autocommit; inserts of
 * new keys alternating with updates of them) and, after each commit returns,
 * polls ClickHouse's current state with FINAL until the change is visible.
 * Prints median, p90, p99 and max, and where the time goes per change, from
 * the change log (millisecond resolution): commit -> Debezium (source.ts_ms to
 * ts_ms) and Debezium -> ClickHouse insert (ts_ms to ingested_at).
 *
 *   npx tsx bench/latency.ts [--changes 100] [--poll-ms 10] [--json]
 *
 * On the dev stack, through the benchmark's own objects (bench/lib/objects.ts:
 * public.bench_cdc, captured by the production connector's settings into the
 * catalog's objects for it), which are created when missing and reset to what
 * ships. Its rows are deleted at the end. Environment variables override the
 * stack's addresses (.env.example).
 */
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { sleep } from './lib/baselines.ts';
import { benchEnv } from './lib/env.ts';
import { ensureOurs, ensurePostgres, names } from './lib/objects.ts';
import { changeTimings, warmUp } from './lib/ours.ts';
import { quantile } from './lib/stats.ts';

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const program = new Command('bench/latency.ts')
  .description('Commit -> visible-in-ClickHouse (FINAL) latency over single-row changes, on the dev stack')
  .option('--changes <n>', 'single-row changes to measure', positiveInt, 100)
  .option('--poll-ms <n>', 'ClickHouse polling interval', positiveInt, 10)
  .option('--timeout-ms <n>', 'give up on one change after this long', positiveInt, 60_000)
  .option('--json', 'print one JSON object')
  .parse();
const opts = program.opts<{ changes: number; pollMs: number; timeoutMs: number; json?: boolean }>();

const env = benchEnv();
const pool = new pg.Pool({ connectionString: env.pgUrl, max: 2, application_name: 'astros-bench-latency' });
const ch = createClient({ url: env.clickhouseUrl, request_timeout: 30_000, log: { level: ClickHouseLogLevel.OFF } });
const log = (m: string) => (opts.json ? console.error(m) : console.log(m));

async function visibleV(id: number): Promise<number | undefined> {
  const rs = await ch.query({ query: `SELECT v FROM ${names.current} FINAL WHERE id = {id:Int64}`, query_params: { id }, format: 'JSONEachRow' });
  return (await rs.json<{ v: number }>())[0]?.v;
}

async function main(): Promise<void> {
  await ensurePostgres(pool);
  await ensureOurs({ pool, ch }, env, { connector: {}, consumer: {} }, log);
  // Warm up the path (registry lookups, a new consumer joining its group) with one change that is not measured.
  log(`warm-up: first change visible after ${Math.round(await warmUp({ pool, ch }, names, opts.timeoutMs))} ms`);
  const base = Date.now() * 1000; // ids no workload and no earlier run uses
  const ids: number[] = [];
  const latencies: number[] = [];
  try {
    for (let i = 0; i < opts.changes; i++) {
      const id = base + Math.floor(i / 2);
      if (i % 2 === 0) {
        await pool.query(`insert into public.${names.table} (id, v, payload) values ($1, $2, 'latency probe')`, [id, i]);
        ids.push(id);
      } else {
        await pool.query(`update public.${names.table} set v = $2, updated_at = now() where id = $1`, [id, i]);
      }
      const committed = performance.now();
      while ((await visibleV(id)) !== i) {
        if (performance.now() - committed > opts.timeoutMs) throw new Error(`change ${i} (id ${id}) not visible after ${opts.timeoutMs} ms`);
        await sleep(opts.pollMs);
      }
      latencies.push(performance.now() - committed);
    }
    const timings = await changeTimings(ch, ids);
    const median = (xs: number[]) => (xs.length ? Math.round(quantile(xs, 0.5)) : null);
    const result = {
      changes: latencies.length,
      pollMs: opts.pollMs,
      medianMs: Math.round(quantile(latencies, 0.5)),
      p90Ms: Math.round(quantile(latencies, 0.9)),
      p99Ms: Math.round(quantile(latencies, 0.99)),
      maxMs: Math.round(Math.max(...latencies)),
      minMs: Math.round(Math.min(...latencies)),
      medianCommitToDebeziumMs: median(timings.map((t) => t.captureMs)),
      medianDebeziumToClickHouseMs: median(timings.map((t) => t.deliverMs)),
    };
    if (opts.json) {
      console.log(JSON.stringify(result));
    } else {
      console.log(`commit -> visible in ClickHouse (FINAL), ${result.changes} single-row changes, polled every ${result.pollMs} ms`);
      console.log(`  median ${result.medianMs} ms   p90 ${result.p90Ms} ms   p99 ${result.p99Ms} ms   min ${result.minMs} ms   max ${result.maxMs} ms`);
      console.log(`  median per stage: commit -> Debezium ${result.medianCommitToDebeziumMs} ms, Debezium -> ClickHouse insert ${result.medianDebeziumToClickHouseMs} ms`);
    }
  } finally {
    await pool.query(`delete from public.${names.table} where id >= $1`, [base]).catch(() => undefined);
  }
}

try {
  await main();
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await pool.end();
  await ch.close();
}
