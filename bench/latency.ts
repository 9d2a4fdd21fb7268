/**
 * Commit-to-visible latency of the CDC pipeline (not a test): makes N
 * single-row changes in Postgres one at a time (autocommit; inserts of new keys
 * alternating with updates of them) and, after each commit returns, polls
 * ClickHouse's current state with FINAL until the change is visible. Prints
 * median, p90, p99 and max, and where the time goes per change, from the
 * changelog: commit -> Debezium (source.ts_ms to ts_ms) and Debezium ->
 * ClickHouse insert (ts_ms to ingested_at).
 *
 *   npx tsx bench/latency.ts [--profile test] [--changes 100] [--poll-ms 10] [--json]
 *
 * Uses public.cdc_types_probe (captured exactly like public.astronauts, see
 * clickhouse-ddl/020_cdc_types_probe.sql) with keys bench_<random>_<n>, deleted
 * at the end. DATABASE_URL / CLICKHOUSE_URL override the stack's addresses.
 */
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { toolEnv } from '../config/env.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createContext } from '../stack/lib/context.ts';
import { stackEnv } from '../stack/lib/endpoints.ts';

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const program = new Command('bench/latency.ts')
  .description('Commit -> visible-in-ClickHouse (FINAL) latency over single-row changes')
  .addOption(new Option('-p, --profile <profile>', 'native stack whose addresses to use').choices(['dev', 'test']).default('dev'))
  .option('--changes <n>', 'single-row changes to measure', positiveInt, 100)
  .option('--poll-ms <n>', 'ClickHouse polling interval', positiveInt, 10)
  .option('--timeout-ms <n>', 'give up on one change after this long', positiveInt, 60_000)
  .option('--json', 'print one JSON object')
  .parse();
const opts = program.opts<{ profile: 'dev' | 'test'; changes: number; pollMs: number; timeoutMs: number; json?: boolean }>();

const stack = stackEnv(createContext(opts.profile));
const pool = new pg.Pool({ connectionString: toolEnv().overrides.databaseUrl ?? stack.DATABASE_URL, max: 2 });
const ch = createClient({ url: toolEnv().overrides.clickhouseUrl ?? stack.CLICKHOUSE_URL, request_timeout: 30_000, log: { level: ClickHouseLogLevel.OFF } });
const prefix = `bench_${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

async function visibleCounter(key: string): Promise<number | undefined> {
  const rs = await ch.query({ query: 'SELECT counter FROM astros.cdc_types_probe FINAL WHERE probe_key = {k:String}', query_params: { k: key }, format: 'JSONEachRow' });
  const rows = await rs.json<{ counter: number }>();
  return rows[0]?.counter;
}

async function main(): Promise<void> {
  const latencies: number[] = [];
  try {
    // Warm up the path (registry lookups, connections) with one change that is not measured.
    await pool.query(`insert into public.cdc_types_probe (probe_key, label, counter) values ($1, 'bench warm-up', -1)`, [`${prefix}_warmup`]);
    for (let t = Date.now(); (await visibleCounter(`${prefix}_warmup`)) !== -1; ) {
      if (Date.now() - t > opts.timeoutMs) throw new Error('the warm-up change never reached ClickHouse: is the pipeline running? (npm run lag)');
      await sleep(50);
    }
    for (let i = 0; i < opts.changes; i++) {
      const key = `${prefix}_${Math.floor(i / 2)}`;
      if (i % 2 === 0) await pool.query(`insert into public.cdc_types_probe (probe_key, label, counter) values ($1, 'bench', $2)`, [key, i]);
      else await pool.query(`update public.cdc_types_probe set counter = $2 where probe_key = $1`, [key, i]);
      const committed = performance.now();
      while ((await visibleCounter(key)) !== i) {
        if (performance.now() - committed > opts.timeoutMs) throw new Error(`change ${i} (${key}) not visible after ${opts.timeoutMs} ms`);
        await sleep(opts.pollMs);
      }
      latencies.push(performance.now() - committed);
    }
    const rs = await ch.query({
      query: `SELECT quantileExact(0.5)(toFloat64(captured_ts - commit_ts) * 1000) AS commit_to_debezium_ms,
                     quantileExact(0.5)(toFloat64(ingested_at - captured_ts) * 1000) AS debezium_to_clickhouse_ms
                FROM astros.cdc_types_probe_changelog WHERE startsWith(probe_key, {p:String}) AND counter >= 0`,
      query_params: { p: `${prefix}_` },
      format: 'JSONEachRow',
    });
    const [stages] = await rs.json<{ commit_to_debezium_ms: number; debezium_to_clickhouse_ms: number }>();
    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      changes: sorted.length,
      pollMs: opts.pollMs,
      medianMs: Math.round(quantile(sorted, 0.5)),
      p90Ms: Math.round(quantile(sorted, 0.9)),
      p99Ms: Math.round(quantile(sorted, 0.99)),
      maxMs: Math.round(sorted.at(-1) ?? NaN),
      minMs: Math.round(sorted[0] ?? NaN),
      medianCommitToDebeziumMs: stages ? Math.round(Number(stages.commit_to_debezium_ms)) : null,
      medianDebeziumToClickHouseMs: stages ? Math.round(Number(stages.debezium_to_clickhouse_ms)) : null,
    };
    if (opts.json) {
      console.log(JSON.stringify(result));
    } else {
      console.log(`commit -> visible in ClickHouse (FINAL), ${result.changes} single-row changes, polled every ${result.pollMs} ms`);
      console.log(`  median ${result.medianMs} ms   p90 ${result.p90Ms} ms   p99 ${result.p99Ms} ms   min ${result.minMs} ms   max ${result.maxMs} ms`);
      console.log(`  median per stage: commit -> Debezium ${result.medianCommitToDebeziumMs} ms, Debezium -> ClickHouse insert ${result.medianDebeziumToClickHouseMs} ms`);
    }
  } finally {
    await pool.query(`delete from public.cdc_types_probe where probe_key like $1`, [`${prefix}_%`]).catch(() => undefined);
    await pool.end();
    await ch.close();
  }
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
