/**
 * Benchmark of validatePipeline's comparison (not a test): loads the same
 * N-row table into Postgres (generate_series) and ClickHouse (numbers(), a
 * ReplacingMergeTree with version and deleted flag), runs compareTable on it
 * and prints rows/s and the wall time of each phase.
 *
 *   npx tsx bench/validate.ts --rows 1000000 [--json]
 *
 * On the dev stack; DATABASE_URL and CLICKHOUSE_URL override its addresses.
 *
 * The objects are created in a throw-away Postgres schema and ClickHouse
 * database (bench_validate_<random>) and dropped at the end unless --keep.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { compareTable } from '../activities/validation/compare-table.ts';
import type { ValidationReport } from '../shared/validation.ts';
import { benchEnv } from './lib/env.ts';
import { kafkaClient } from '../connectors/kafka/client.ts';

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

const program = new Command()
  .name('bench/validate.ts')
  .description('Benchmark the Postgres vs ClickHouse value-level comparison on a generated table (dev stack; DATABASE_URL, CLICKHOUSE_URL override it).')
  .option('--rows <n>', 'rows in the table', positiveInt, 1_000_000)
  .option('--buckets <n>', 'checksum buckets', positiveInt, 4096)
  .option('--diverge <n>', 'alter this many rows in ClickHouse only (exercises the drill-down)', positiveInt, 0)
  .option('--pg-parallel-workers <n>', 'max_parallel_workers_per_gather for the Postgres aggregate (default: server setting)', positiveInt)
  .option('--runs <n>', 'comparisons to run (the best and all timings are printed)', positiveInt, 3)
  .option('--json', 'print one JSON object instead of text')
  .option('--keep', 'keep the generated tables')
  .showHelpAfterError();

program.parse();
const opts = program.opts<{ rows: number; buckets: number; diverge: number; pgParallelWorkers?: number; runs: number; json?: boolean; keep?: boolean }>();

const env = benchEnv();
const { databaseUrl, clickhouseUrl } = env;
const name = `bench_validate_${randomBytes(4).toString('hex')}`;
const say = (m: string) => {
  if (!opts.json) console.log(m);
};

const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: 'astros-bench-validate' });
const ch = createClient({ url: clickhouseUrl, request_timeout: 300_000 });

// The same values in both engines, a function of the row number g (1..N).
const pgLoad = `insert into ${name}.people
  select g, 'person ' || g, case when g % 3 = 0 then 'ISS' else 'Tiangong' end,
         (g * 1.25)::numeric(14,2),
         timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second 1 microsecond',
         case when g % 10 = 0 then null when g % 10 = 1 then '' else 'note ' || g end
    from generate_series(1, $1::bigint) g`;
const chLoad = (n: number) => `INSERT INTO ${name}.people
  SELECT number + 1, concat('person ', toString(number + 1)), if((number + 1) % 3 = 0, 'ISS', 'Tiangong'),
         toDecimal64((number + 1) * 125, 2) / 100,
         toDateTime64('2024-01-01 00:00:00', 6, 'UTC') + toIntervalMicrosecond((number + 1) * 1000001),
         multiIf((number + 1) % 10 = 0, NULL, (number + 1) % 10 = 1, '', concat('note ', toString(number + 1))),
         1, 0
    FROM numbers(${n})`;

async function main(): Promise<void> {
  const t = performance.now();
  await pool.query(`create schema ${name}`);
  await pool.query(`create table ${name}.people (id bigint primary key, name text not null, craft text not null,
    amount numeric(14,2), created_at timestamptz, note text)`);
  await ch.command({ query: `CREATE DATABASE ${name}` });
  await ch.command({
    query: `CREATE TABLE ${name}.people (id Int64, name String, craft LowCardinality(String), amount Nullable(Decimal(14, 2)),
      created_at Nullable(DateTime64(6, 'UTC')), note Nullable(String), version UInt64, is_deleted UInt8)
      ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY id`,
  });
  const [pgLoadMs, chLoadMs] = await Promise.all([
    (async () => {
      const s = performance.now();
      await pool.query(pgLoad, [opts.rows]);
      await pool.query(`vacuum analyze ${name}.people`);
      return performance.now() - s;
    })(),
    (async () => {
      const s = performance.now();
      await ch.command({ query: chLoad(opts.rows) });
      if (opts.diverge > 0) {
        // A newer version of some rows with a changed value: what FINAL reads.
        await ch.command({
          query: `INSERT INTO ${name}.people SELECT id, concat(name, ' (altered)'), craft, amount, created_at, note, 2, 0
                    FROM ${name}.people WHERE id % ${Math.max(1, Math.floor(opts.rows / opts.diverge))} = 0 LIMIT ${opts.diverge}`,
        });
      }
      return performance.now() - s;
    })(),
  ]);
  say(`loaded ${opts.rows} rows: Postgres ${(pgLoadMs / 1000).toFixed(2)} s, ClickHouse ${(chLoadMs / 1000).toFixed(2)} s (in parallel; setup ${((performance.now() - t) / 1000).toFixed(2)} s)`);

  const runs: ValidationReport[] = [];
  for (let i = 0; i < opts.runs; i++) {
    const report = await compareTable(
      { pool, clickhouse: ch, kafka: kafkaClient(env.kafkaBrokers, 'astros-bench'), endpoints: env },
      {
        reportKey: `${name}-${i}`,
        spec: {
          source: { schema: name, table: 'people' },
          target: { database: name, table: 'people', versionColumn: 'version', deletedColumn: 'is_deleted' },
          catchUp: { mode: 'none' },
          buckets: opts.buckets,
          ...(opts.pgParallelWorkers !== undefined ? { pgParallelWorkers: opts.pgParallelWorkers } : {}),
        },
      },
    );
    runs.push(report);
    say(
      `run ${i + 1}: ${report.outcome} in ${report.durationMs} ms = ${Math.round(opts.rows / (report.durationMs / 1000)).toLocaleString('en')} rows/s ` +
        `(snapshot ${report.phasesMs.snapshot} ms, checksum ${report.phasesMs.checksum} ms, drill-down ${report.phasesMs.drillDown} ms; ` +
        `${report.mismatchedBuckets} mismatching buckets, ${report.different} different keys)`,
    );
  }
  const best = runs.reduce((a, b) => (b.durationMs < a.durationMs ? b : a));
  const result = {
    rows: opts.rows,
    buckets: opts.buckets,
    diverged: opts.diverge,
    loadMs: { postgres: Math.round(pgLoadMs), clickhouse: Math.round(chLoadMs) },
    bestMs: best.durationMs,
    rowsPerSecond: Math.round(opts.rows / (best.durationMs / 1000)),
    runs: runs.map((r) => ({ outcome: r.outcome, durationMs: r.durationMs, phasesMs: r.phasesMs, mismatchedBuckets: r.mismatchedBuckets, different: r.different })),
    summary: best.summary,
  };
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else say(`best: ${best.durationMs} ms for ${opts.rows} rows = ${result.rowsPerSecond.toLocaleString('en')} rows/s\n${best.summary}`);
}

try {
  await main();
} finally {
  if (!opts.keep) {
    await pool.query(`drop schema if exists ${name} cascade`).catch(() => undefined);
    await ch.command({ query: `DROP DATABASE IF EXISTS ${name}` }).catch(() => undefined);
  }
  await pool.end();
  await ch.close();
}
