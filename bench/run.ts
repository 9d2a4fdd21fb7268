/**
 * The pipeline benchmark: our CDC pipeline against the capture ceiling
 * (pg_recvlogical) and a peer (ClickHouse MaterializedPostgreSQL in the same
 * chDB server), on the same workload, in the same run, on the DEV stack; and
 * a table's initial load three ways (resync, Debezium's snapshot, the peer's).
 *
 *   npm run bench -- all --runs 3
 *   npm run bench -- sustained,latency --runs 1 --n 20000 --n-single 2000
 *   npm run bench -- --help
 *
 * Writes bench/results/<timestamp>/{results.json,table.md,*.svg}; --latest also
 * copies the table and plots to bench/latest/ and refreshes bench/README.md.
 * Figures are printed and written, never asserted.
 */
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Client, type Connection } from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { connectWithWorker } from '../cli/worker-check.ts';
import { repoRoot } from '../stack/lib/context.ts';
import { ceilingDrain, createPeer, peerSustained, type PeerMode } from './lib/baselines.ts';
import { benchEnv } from './lib/env.ts';
import { kafkaAdmin } from './lib/lag.ts';
import { describeStages } from './lib/update-stages.ts';
import { singleChangeLatency } from './lib/latency.ts';
import { cpuDelta, cpuGroups, cpuSnapshot, describe, groupLabels, idleRate, type CpuDelta, type CpuPerChange, type IdleRate } from './lib/cpu.ts';
import { loadBars, loadMetrics, loadReport, loadScenario, type LoadContender } from './lib/load.ts';
import type { LoadRun } from './lib/load-result.ts';
import { ensureLoadRows } from './lib/load-table.ts';
import { KafkaConnect } from '../connectors/kafka-connect/client.ts';
import { ensureOurs, ensurePostgres, fullNames, names, type OursApplied, type Tuning } from './lib/objects.ts';
import { measureIdle, oursBulkUpdate, oursSingleLatency, oursSustained, warmUp, type BulkUpdateResult, type SustainedResult } from './lib/ours.ts';
import { barPlot, latencyPlot, lagPlot, throughputPlot } from './lib/plots.ts';
import { cdf, cell as cellOf, fmt, quantile, ratio as ratioOf, spread, type Summary } from './lib/stats.ts';
import { cleanupGroups, groupsConfigs, groupsRun, requirePipeline } from './lib/groups.ts';
import { groupsMetrics, groupsReport } from './lib/groups-report.ts';
import type { TxMode } from './lib/workload.ts';

const scenarios = ['sustained', 'update', 'latency', 'validate', 'ceiling', 'peer', 'load', 'groups'] as const;
type Scenario = (typeof scenarios)[number];

const int = (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

const positive = (raw: string): number => {
  const n = int(raw);
  if (n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

const program = new Command('bench')
  .description(
    'Benchmark the CDC pipeline on the dev stack against pg_recvlogical (capture ceiling) and ClickHouse MaterializedPostgreSQL (peer), and its initial load.\n' +
      `Scenarios (comma-separated, or "all"): ${scenarios.join(', ')}.\n` +
      '  sustained  N changes (50% inserts, 30% updates, 20% deletes) in batched and in 1-row transactions -> changes/s visible, per-change latency, lag per stage, CPU per change per component\n' +
      '  update     one UPDATE of every row of a table (--update-rows), replica identity the primary key and FULL -> commit->all visible (per stage), CPU per change\n' +
      '  latency    single-change commit->visible latency at idle\n' +
      '  validate   bench/validate.ts on a generated table (rows/s)\n' +
      '  ceiling    pg_recvlogical drain rate of the sustained workloads (pgoutput -> /dev/null)\n' +
      '  peer       MaterializedPostgreSQL with default and tuned polling: sustained workloads + single-change latency\n' +
      '  load       an N-row table (--load-rows) loaded into ClickHouse by resyncTable (ours), a Debezium snapshot connector and MaterializedPostgreSQL -> rows/s, peak memory\n' +
      '  groups     the batched workload (--n changes) over two tables in one table group, then in two groups (astros tables add --group; removed afterwards) -> changes/s, CPU per change per component, the ratio\n' +
      'Without tuning flags our pipeline runs as it ships (debezium/astros-postgres.json, catalog/consumer-settings.ts); each flag overrides one setting.',
  )
  .argument('[scenarios]', 'which scenarios', 'all')
  .option('--runs <n>', 'repetitions (figures are medians with min-max)', int, 3)
  .option('--n <n>', 'changes in the batched workload (sustained, groups)', int, 500_000)
  .option('--tx-rows <n>', 'rows per insert transaction in the batched workload', int, 5_000)
  .option('--n-single <n>', 'changes in the 1-row-transaction workload (0: skip it)', int, 5_000)
  .option('--concurrency <n>', 'connections for the 1-row-transaction workload', int, 4)
  .option('--update-rows <n>', 'rows of the one-transaction UPDATE scenario', int, 200_000)
  .option('--idle-seconds <n>', 'length of each idle CPU window (quiet, then with the bench sampling) measured before the runs', int, 15)
  .option('--samples <n>', 'single-change latency samples (ours, tuned peer)', int, 100)
  .option('--peer-default-samples <n>', 'single-change samples for the peer with default polling (each takes seconds)', int, 10)
  .option('--validate-rows <n>', 'rows for the validation scenario', int, 1_000_000)
  .option('--load-rows <n>', 'rows of the load scenario\'s table (filled once, kept while the count stays)', positive, 1_000_000)
  .option('--load-parallel <n>', 'load scenario: ranges resyncTable reads at once (default: the workflow\'s)', positive)
  .option('--load-range-rows <n>', 'load scenario: rows per resyncTable range, roughly (default: the workflow\'s)', positive)
  .option('--load-skip-debezium', 'load scenario: leave out Debezium\'s snapshot (minutes a run; ours against MaterializedPostgreSQL only)')
  .option('--poll-interval-ms <n>', 'Debezium poll.interval.ms', int)
  .option('--max-batch-size <n>', 'Debezium max.batch.size', int)
  .option('--max-queue-size <n>', 'Debezium max.queue.size', int)
  .option('--linger-ms <n>', 'producer.override.linger.ms', int)
  .option('--compression <type>', 'producer.override.compression.type (none, lz4, zstd, snappy, gzip)')
  .option('--connector-set <key=value>', 'any other bench connector setting, e.g. producer.override.batch.size=262144 (repeatable; "key=" removes it)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--kafka-max-block-size <n>', 'ClickHouse kafka_max_block_size', int)
  .option('--kafka-flush-interval-ms <n>', 'ClickHouse kafka_flush_interval_ms', int)
  .option('--kafka-poll-timeout-ms <n>', 'ClickHouse kafka_poll_timeout_ms', int)
  .option('--kafka-consumer-reschedule-ms <n>', 'ClickHouse kafka_consumer_reschedule_ms (idle consumer back-off)', int)
  .option('--kafka-poll-max-batch-size <n>', 'ClickHouse kafka_poll_max_batch_size (messages one poll waits for)', int)
  .option('--label <text>', 'a name for this configuration (recorded in the results)', 'default')
  .option('--out <dir>', 'results directory', path.join(repoRoot, 'bench', 'results'))
  .option('--latest', 'copy the table and plots to bench/latest/ and refresh bench/README.md')
  .showHelpAfterError();

program.parse();
const opts = program.opts<{
  runs: number; n: number; txRows: number; nSingle: number; updateRows: number; idleSeconds: number; concurrency: number; samples: number; peerDefaultSamples: number; validateRows: number;
  loadRows: number; loadParallel?: number; loadRangeRows?: number; loadSkipDebezium?: boolean;
  pollIntervalMs?: number; maxBatchSize?: number; maxQueueSize?: number; lingerMs?: number; compression?: string;
  kafkaMaxBlockSize?: number; kafkaFlushIntervalMs?: number; kafkaPollTimeoutMs?: number; kafkaConsumerRescheduleMs?: number; kafkaPollMaxBatchSize?: number; connectorSet: string[]; label: string; out: string; latest?: boolean;
}>();
const rawScenarios = (program.args[0] ?? 'all').split(',').map((s) => s.trim());
const selected = new Set<Scenario>(rawScenarios.includes('all') ? scenarios : []);
for (const s of rawScenarios) {
  if (s === 'all') continue;
  if (!(scenarios as readonly string[]).includes(s)) program.error(`unknown scenario "${s}" (one of: all, ${scenarios.join(', ')})`);
  selected.add(s as Scenario);
}
/** The tuning flags and the setting each overrides (unset flags: what ships). */
const connectorFlags = {
  pollIntervalMs: 'poll.interval.ms',
  maxBatchSize: 'max.batch.size',
  maxQueueSize: 'max.queue.size',
  lingerMs: 'producer.override.linger.ms',
  compression: 'producer.override.compression.type',
} as const;
const consumerFlags = {
  kafkaMaxBlockSize: 'kafka_max_block_size',
  kafkaFlushIntervalMs: 'kafka_flush_interval_ms',
  kafkaPollTimeoutMs: 'kafka_poll_timeout_ms',
  kafkaConsumerRescheduleMs: 'kafka_consumer_reschedule_ms',
  kafkaPollMaxBatchSize: 'kafka_poll_max_batch_size',
} as const;
const flagged = (flags: Partial<Record<keyof typeof opts, string>>): [string, string | number][] =>
  Object.entries(flags).flatMap(([flag, setting]) => {
    const v = opts[flag as keyof typeof opts];
    return typeof v === 'number' || typeof v === 'string' ? [[setting, v]] : [];
  });
const connectorSet = Object.fromEntries(
  opts.connectorSet.map((kv) => {
    const i = kv.indexOf('=');
    if (i <= 0) program.error(`--connector-set wants key=value, got "${kv}"`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  }),
);
const tuning: Tuning = {
  connector: { ...Object.fromEntries(flagged(connectorFlags).map(([k, v]) => [k, String(v)])), ...connectorSet },
  consumer: Object.fromEntries(flagged(consumerFlags)),
};

const env = benchEnv();
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = path.join(opts.out, stamp);
const log = (m: string) => console.log(m);
const load = () => os.loadavg().map((x) => Number(x.toFixed(2)));

interface Idle {
  quiet: CpuDelta;
  observed: CpuDelta;
  /** µs of CPU per second, per component: what is subtracted */
  rate: IdleRate;
}

const idleLine = (d: CpuDelta) => {
  const pct = (us: number) => (us / (d.ms * 10)).toFixed(1);
  const total = cpuGroups.reduce((s, g) => s + d.us[g], 0);
  return `${pct(total)} % of a core (${cpuGroups.map((g) => `${g} ${pct(d.us[g])}`).join(', ')})`;
};

/** CPU figures as flat metrics: "<scenario>.ours.cpuNet.<group|total>", "<scenario>.ours.cpuGross.total". */
function cpuMetrics(m: Metrics, scenario: string, c: CpuPerChange): void {
  for (const g of [...cpuGroups, 'total'] as const) m[`${scenario}.ours.cpuNet.${g}`] = c.net[g];
  m[`${scenario}.ours.cpuGross.total`] = c.gross.total;
}

/** one run's figures: flat keys "<scenario>.<contender>.<metric>" */
type Metrics = Record<string, number>;
interface RunRecord {
  run: number;
  loadavgStart: number[];
  loadavgEnd: number[];
  metrics: Metrics;
  sustained: Partial<Record<TxMode, SustainedResult>>;
  update: Partial<Record<'pk' | 'full', BulkUpdateResult>>;
  latency: Record<string, number[]>;
  /** medians of the latency samples' stages, ms */
  stages?: { capture: number; deliver: number };
  load?: Partial<Record<LoadContender, LoadRun>>;
  notes: string[];
}

const loadOptions = {
  rows: opts.loadRows,
  ...(opts.loadParallel ? { parallel: opts.loadParallel } : {}),
  ...(opts.loadRangeRows ? { rangeRows: opts.loadRangeRows } : {}),
  ...(opts.loadSkipDebezium ? { skipDebezium: true } : {}),
  timeoutMs: 30 * 60_000,
};

const workloads: Record<TxMode, { changes: number; cycleRows: number; concurrency: number }> = {
  batched: { changes: opts.n, cycleRows: opts.txRows, concurrency: 1 },
  single: { changes: opts.nSingle, cycleRows: 10, concurrency: opts.concurrency },
};

async function validateOnce(): Promise<{ rowsPerSecond: number; bestMs: number }> {
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench', 'validate.ts'), '--rows', String(opts.validateRows), '--runs', '1', '--json'], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: env.databaseUrl, CLICKHOUSE_URL: env.clickhouseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`bench/validate.ts exited ${code}: ${err.trim().slice(-500)}`))));
  });
  const json = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { rowsPerSecond: number; bestMs: number };
  return json;
}

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: env.pgUrl, max: 4, application_name: 'astros-bench' });
  const ch = createClient({ url: env.clickhouseUrl, request_timeout: 600_000, log: { level: ClickHouseLogLevel.OFF } });
  const admin = await kafkaAdmin(env.kafkaBrokers);
  const deps = { pool, ch, admin, pgUrl: env.pgUrl, pidDir: env.pidDir };
  const runs: RunRecord[] = [];
  let applied: OursApplied | undefined;
  let idle: Idle | undefined;
  let temporal: Connection | undefined;
  try {
    await ensurePostgres(pool);
    // Before the objects are derived: a changed shape re-creates the table.
    if (selected.has('load')) await ensureLoadRows(pool, new KafkaConnect(env.connectUrl), opts.loadRows, [decodeURIComponent(new URL(env.databaseUrl).username)], log);
    if (selected.has('sustained') || selected.has('latency') || selected.has('update') || selected.has('load')) applied = await ensureOurs(deps, env, tuning, log);
    if (applied && (selected.has('sustained') || selected.has('latency') || selected.has('update'))) {
      log(`warm-up: first change visible after ${fmt(await warmUp(deps))} ms${applied.recreated ? ' (Kafka table re-created)' : ''}`);
      if (selected.has('update')) log(`warm-up (${fullNames.table}): first change visible after ${fmt(await warmUp(deps, fullNames))} ms`);
    }
    if (selected.has('load')) {
      temporal = await connectWithWorker(
        { address: env.temporalAddress, namespace: env.temporalNamespace, taskQueue: env.taskQueue },
        { ifNoWorker: 'fail', consequence: 'the load scenario starts resyncTable there' },
      );
    }
    if (selected.has('sustained') || selected.has('update')) {
      log(`idle stack: ${opts.idleSeconds} s quiet, then ${opts.idleSeconds} s with the bench's sampling`);
      const i = await measureIdle(deps, opts.idleSeconds);
      idle = { quiet: i.quiet, observed: i.observed, rate: i.rate };
      log(`  idle: ${idleLine(i.quiet)} quiet; ${idleLine(i.observed)} sampled (subtracted)`);
    } else if (selected.has('groups')) {
      // The groups scenario samples nothing but a count per table: the quiet stack's use is what is subtracted.
      log(`idle stack: ${opts.idleSeconds} s quiet`);
      const a = cpuSnapshot(env.pidDir);
      await new Promise((res) => setTimeout(res, opts.idleSeconds * 1000));
      const quiet = cpuDelta(a, cpuSnapshot(env.pidDir));
      idle = { quiet, observed: quiet, rate: idleRate(quiet) };
      log(`  idle: ${idleLine(quiet)} (subtracted)`);
    }
    if (selected.has('groups')) {
      await requirePipeline(ch);
      log('groups: removing what an earlier run left');
      await cleanupGroups(deps, log);
    }
    fs.mkdirSync(outDir, { recursive: true });
    for (let run = 1; run <= opts.runs; run++) {
      const rec: RunRecord = { run, loadavgStart: load(), loadavgEnd: [], metrics: {}, sustained: {}, update: {}, latency: {}, notes: [] };
      const m = rec.metrics;
      log(`run ${run}/${opts.runs} (load average ${rec.loadavgStart.join(' ')})`);
      if (selected.has('sustained')) {
        for (const mode of (['batched', 'single'] as const).filter((x) => workloads[x].changes > 0)) {
          log(` sustained ${mode}: ours`);
          const r = await oursSustained(deps, { ...workloads[mode], mode, timeoutMs: 600_000 }, idle!.rate, log);
          rec.sustained[mode] = r;
          cpuMetrics(m, `sustained-${mode}`, r.cpu);
          m[`sustained-${mode}.ours.changesPerSec`] = r.changesPerSec;
          m[`sustained-${mode}.ours.commitPerSec`] = r.commitPerSec;
          m[`sustained-${mode}.ours.p50Ms`] = r.latencyMs.p50;
          m[`sustained-${mode}.ours.p95Ms`] = r.latencyMs.p95;
          m[`sustained-${mode}.ours.p99Ms`] = r.latencyMs.p99;
          m[`sustained-${mode}.ours.drainAfterCommitMs`] = r.drainAfterCommitMs;
          if (!r.stateOk) rec.notes.push(`sustained ${mode}: ClickHouse current state did not match the workload's end state`);
          log(`  ${fmt(r.changesPerSec)} changes/s visible (committed at ${fmt(r.commitPerSec)}/s), latency p50 ${fmt(r.latencyMs.p50)} p95 ${fmt(r.latencyMs.p95)} p99 ${fmt(r.latencyMs.p99)} ms, state ${r.stateOk ? 'ok' : 'MISMATCH'}`);
          log(`  ${describe(r.cpu)}`);
        }
      }
      if (selected.has('update')) {
        for (const [identity, t] of [['pk', names], ['full', fullNames]] as const) {
          log(` update: one UPDATE of ${opts.updateRows} rows, replica identity ${identity === 'pk' ? 'the primary key' : 'FULL'} (${t.table})`);
          const r = await oursBulkUpdate(deps, t, opts.updateRows, idle!.rate, 600_000);
          rec.update[identity] = r;
          m[`update-${identity}.ours.changesPerSec`] = r.changesPerSec;
          m[`update-${identity}.ours.drainAfterCommitMs`] = r.visibleAfterCommitMs;
          cpuMetrics(m, `update-${identity}`, r.cpu);
          if (!r.stateOk) rec.notes.push(`update ${identity}: ClickHouse current state did not show every row updated`);
          log(`  UPDATE took ${fmt(r.commitMs)} ms; all visible ${fmt(r.visibleAfterCommitMs)} ms after its commit (${fmt(r.changesPerSec)} changes/s), state ${r.stateOk ? 'ok' : 'MISMATCH'}`);
          log(`  ${describeStages(r.stages)}`);
          log(`  ${describe(r.cpu)}`);
        }
      }
      if (selected.has('latency')) {
        log(` single-change latency: ours (${opts.samples} samples)`);
        const l = await oursSingleLatency(deps, opts.samples);
        rec.latency.ours = l.ms;
        rec.latency.oursServer = l.serverMs;
        for (const [k, q] of [['p50Ms', 0.5], ['p95Ms', 0.95], ['p99Ms', 0.99]] as const) m[`latency.ours.${k}`] = quantile(l.ms, q);
        m['latency.ours.serverP50Ms'] = quantile(l.serverMs, 0.5);
        rec.stages = {
          capture: quantile(l.stages.map((s) => s.captureMs), 0.5),
          deliver: quantile(l.stages.map((s) => s.deliverMs), 0.5),
        };
        for (const [k, v] of Object.entries(rec.stages)) m[`latency.ours.${k}P50Ms`] = v;
        log(`  p50 ${fmt(m['latency.ours.p50Ms']!)} p95 ${fmt(m['latency.ours.p95Ms']!)} p99 ${fmt(m['latency.ours.p99Ms']!)} ms (timeouts ${l.timeouts}); median stages: commit -> Debezium ${fmt(rec.stages.capture)}, -> ClickHouse insert ${fmt(rec.stages.deliver)} ms`);
      }
      if (selected.has('ceiling')) {
        for (const mode of ['batched', 'single'] as const) {
          log(` ceiling ${mode}: pg_recvlogical`);
          const c = await ceilingDrain(pool, env, { ...workloads[mode], mode });
          m[`sustained-${mode}.ceiling.changesPerSec`] = c.changesPerSec;
          log(`  ${c.changes} changes (${(c.walBytes / 1e6).toFixed(1)} MB WAL) drained in ${c.drainMs.toFixed(0)} ms = ${fmt(c.changesPerSec)} changes/s`);
        }
      }
      if (selected.has('peer')) {
        for (const pm of ['default', 'tuned'] as PeerMode[]) {
          const key = pm === 'default' ? 'peerDefault' : 'peerTuned';
          log(` peer MaterializedPostgreSQL (${pm} polling)`);
          const peer = await createPeer(ch, pool, env.pgUrl, pm);
          try {
            let live = 0;
            let nextId = 1;
            for (const mode of ['batched', 'single'] as const) {
              const r = await peerSustained(peer, env.pgUrl, { table: `public.${names.baseTable}`, ...workloads[mode], mode, firstId: nextId }, live, 600_000);
              live += r.w.expectedLive;
              nextId += r.w.inserted;
              m[`sustained-${mode}.${key}.changesPerSec`] = r.changesPerSec;
              m[`sustained-${mode}.${key}.drainAfterCommitMs`] = r.drainAfterCommitMs;
              log(`  sustained ${mode}: ${fmt(r.changesPerSec)} changes/s visible (last change visible ${fmt(r.drainAfterCommitMs)} ms after the last commit)`);
            }
            if (selected.has('latency')) {
              const samples = pm === 'default' ? opts.peerDefaultSamples : opts.samples;
              const l = await singleChangeLatency({
                pool,
                table: `public.${names.baseTable}`,
                samples,
                isVisible: async (id) => {
                  const rs = await ch.query({ query: `SELECT count() AS n FROM ${peer.db}.${names.baseTable} WHERE id = {id:Int64}`, query_params: { id }, format: 'JSONEachRow' });
                  return Number((await rs.json<{ n: string }>())[0]?.n ?? 0) > 0;
                },
                timeoutMs: 60_000,
              });
              rec.latency[key] = l.ms;
              for (const [k, q] of [['p50Ms', 0.5], ['p95Ms', 0.95], ['p99Ms', 0.99]] as const) m[`latency.${key}.${k}`] = quantile(l.ms, q);
              log(`  single-change latency (${samples} samples): p50 ${fmt(m[`latency.${key}.p50Ms`]!)} p95 ${fmt(m[`latency.${key}.p95Ms`]!)} p99 ${fmt(m[`latency.${key}.p99Ms`]!)} ms`);
            }
          } finally {
            await peer.drop();
          }
        }
      }
      if (selected.has('validate')) {
        log(` validation of ${opts.validateRows} rows (bench/validate.ts)`);
        const v = await validateOnce();
        m['validate.ours.rowsPerSec'] = v.rowsPerSecond;
        m['validate.ours.ms'] = v.bestMs;
        log(`  ${v.bestMs} ms = ${fmt(v.rowsPerSecond)} rows/s`);
      }
      if (selected.has('groups') && idle) {
        try {
          for (const config of groupsConfigs) {
            // Quiet rate: the scenario runs no lag sampler, only a count per table.
            log(` groups: ${config.label} (${config.tables.map((t) => `${t.source} in ${t.group}`).join(', ')})`);
            const r = await groupsRun({ ...deps, owner: decodeURIComponent(new URL(env.databaseUrl).username) }, config, { changes: opts.n, cycleRows: opts.txRows, timeoutMs: 900_000 }, idleRate(idle.quiet), log);
            groupsMetrics(m, config.key, r);
            if (!r.stateOk) rec.notes.push(`groups ${config.label}: ClickHouse current state did not show the workload's end state`);
            log(`  ${fmt(r.changesPerSec)} changes/s visible (${r.connectors.join(', ')}); last change visible ${fmt(r.drainAfterCommitMs)} ms after the last commit, state ${r.stateOk ? 'ok' : 'MISMATCH'}`);
            log(`  ${describe(r.cpu)}`);
          }
        } finally {
          log(' groups: removing the bench\'s tables, groups and topics');
          await cleanupGroups(deps, log);
        }
      }
      if (selected.has('load') && temporal) {
        const client = new Client({ connection: temporal, namespace: env.temporalNamespace });
        const r = await loadScenario({ ...deps, temporal: client }, env, tuning, loadOptions, log);
        rec.load = r;
        loadMetrics(m, r);
        for (const [c, x] of Object.entries(r)) if (!x.stateOk) rec.notes.push(`load ${c}: ClickHouse did not show exactly the table's ${x.rows} rows afterwards`);
      }
      rec.loadavgEnd = load();
      runs.push(rec);
      fs.writeFileSync(path.join(outDir, `run-${run}.json`), JSON.stringify(rec, null, 1));
    }
  } finally {
    await temporal?.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await pool.end();
    await ch.close();
  }
  await report(runs, applied, idle);
}

const contenders = ['ours', 'peerDefault', 'peerTuned', 'ceiling'] as const;
const rows: { scenario: string; metric: string; unit: string; higherIsBetter: boolean }[] = [
  { scenario: 'sustained-batched', metric: 'changesPerSec', unit: 'changes/s', higherIsBetter: true },
  { scenario: 'sustained-batched', metric: 'p50Ms', unit: 'ms p50 per change', higherIsBetter: false },
  { scenario: 'sustained-batched', metric: 'p99Ms', unit: 'ms p99 per change', higherIsBetter: false },
  { scenario: 'sustained-batched', metric: 'drainAfterCommitMs', unit: 'ms last commit -> all visible', higherIsBetter: false },
  { scenario: 'sustained-single', metric: 'changesPerSec', unit: 'changes/s', higherIsBetter: true },
  { scenario: 'sustained-single', metric: 'p50Ms', unit: 'ms p50 per change', higherIsBetter: false },
  { scenario: 'sustained-single', metric: 'p99Ms', unit: 'ms p99 per change', higherIsBetter: false },
  { scenario: 'sustained-single', metric: 'drainAfterCommitMs', unit: 'ms last commit -> all visible', higherIsBetter: false },
  { scenario: 'update-pk', metric: 'changesPerSec', unit: 'changes/s', higherIsBetter: true },
  { scenario: 'update-pk', metric: 'drainAfterCommitMs', unit: 'ms commit -> all visible', higherIsBetter: false },
  { scenario: 'update-full', metric: 'changesPerSec', unit: 'changes/s', higherIsBetter: true },
  { scenario: 'update-full', metric: 'drainAfterCommitMs', unit: 'ms commit -> all visible', higherIsBetter: false },
  { scenario: 'latency', metric: 'p50Ms', unit: 'ms p50', higherIsBetter: false },
  { scenario: 'latency', metric: 'p95Ms', unit: 'ms p95', higherIsBetter: false },
  { scenario: 'latency', metric: 'p99Ms', unit: 'ms p99', higherIsBetter: false },
  { scenario: 'validate', metric: 'rowsPerSec', unit: 'rows/s', higherIsBetter: true },
  { scenario: 'validate', metric: 'ms', unit: 'ms', higherIsBetter: false },
];

async function report(runs: RunRecord[], applied: OursApplied | undefined, idle: Idle | undefined): Promise<void> {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.metrics)));
  const summary: Summary = {};
  for (const k of keys) summary[k] = spread(runs.map((r) => r.metrics[k] ?? NaN));
  const cell = (k: string) => cellOf(summary, k);
  const ratio = (a: string, b: string) => ratioOf(summary, a, b);
  const lines = [
    `| scenario | metric | ours | peer (default polling) | peer (tuned polling) | ceiling (pg_recvlogical) | ours / peer tuned | ours / ceiling |`,
    `|---|---|---|---|---|---|---|---|`,
  ];
  for (const r of rows) {
    const k = (c: string) => `${r.scenario}.${c}.${r.metric}`;
    if (!contenders.some((c) => summary[k(c)])) continue;
    lines.push(`| ${r.scenario} | ${r.unit} | ${contenders.map((c) => cell(k(c))).join(' | ')} | ${ratio(k('ours'), k('peerTuned'))} | ${ratio(k('ours'), k('ceiling'))} |`);
  }
  const cpuScenarios = ['sustained-batched', 'sustained-single', 'update-pk', 'update-full'].filter((sc) => summary[`${sc}.ours.cpuNet.total`]);
  const cpuLines = cpuScenarios.length
    ? [
        `| µs CPU per change (ours) | changes/s | **total, net of idle** | ${cpuGroups.map((g) => groupLabels[g]).join(' | ')} | total, gross |`,
        `|---|---|---|${cpuGroups.map(() => '---|').join('')}---|`,
        ...cpuScenarios.map(
          (sc) =>
            `| ${sc} | ${cell(`${sc}.ours.changesPerSec`)} | ${cell(`${sc}.ours.cpuNet.total`)} | ${cpuGroups.map((g) => cell(`${sc}.ours.cpuNet.${g}`)).join(' | ')} | ${cell(`${sc}.ours.cpuGross.total`)} |`,
        ),
      ]
    : [];
  const loads = runs.map((r) => `${r.loadavgStart[0]}→${r.loadavgEnd[0]}`).join(', ');
  const stages = runs.map((r) => r.stages).filter((s) => s !== undefined);
  const meta = [
    `Configuration \`${opts.label}\`; ${runs.length} run(s), medians with (min–max); ${os.cpus().length} cores; 1-min load average per run (start→end): ${loads}.`,
    `Workloads: batched ${opts.n} changes (${opts.txRows}-row insert transactions, 60 % updated, 40 % deleted); single ${opts.nSingle} changes in 1-row transactions on ${opts.concurrency} connections; update: one UPDATE of ${opts.updateRows} rows; latency ${opts.samples} samples (peer default ${opts.peerDefaultSamples}); validation ${opts.validateRows} rows; load ${opts.loadRows} rows${selected.has('groups') ? '; groups: the batched workload, half of it on each of two tables written at once' : ''}.`,
    idle
      ? `CPU per change: each component's process tree from /proc (exited children included), from the workload's start until its last change is visible plus 2 s, minus the idle stack's use over the same time. Idle, measured in this invocation: ${idleLine(idle.quiet)} quiet${idle.observed === idle.quiet ? ' (what is subtracted)' : `; ${idleLine(idle.observed)} with the bench's sampling (what is subtracted${selected.has('groups') ? '; the groups scenario, which runs no sampler, subtracts the quiet rate' : ''})`}.`
      : '',
    stages.length
      ? `Where a single change's time goes (median of run medians, ms resolution): Postgres commit → Debezium ${fmt(quantile(stages.map((s) => s.capture), 0.5))} ms, → ClickHouse insert (Kafka append and consume) ${fmt(quantile(stages.map((s) => s.deliver), 0.5))} ms.`
      : '',
    ...runs.flatMap((r) => r.notes.map((n) => `Run ${r.run}: ${n}.`)),
  ].filter(Boolean);
  const loadLines = [...loadReport(summary, loadOptions), ...groupsReport(summary, os.cpus().length, quantile(runs.map((r) => r.loadavgEnd[0] ?? NaN), 0.5))];
  const table = `${lines.length > 2 ? `${lines.join('\n')}\n\n` : ''}${cpuLines.length ? `${cpuLines.join('\n')}\n\n` : ''}${loadLines.length ? `${loadLines.join('\n')}\n\n` : ''}${meta.join('\n\n')}\n`;
  fs.writeFileSync(path.join(outDir, 'table.md'), table);
  fs.writeFileSync(
    path.join(outDir, 'results.json'),
    JSON.stringify(
      {
        label: opts.label,
        options: opts,
        tuning,
        connector: pick(applied?.connector.config ?? {}, [...Object.values(connectorFlags), ...Object.keys(connectorSet)]),
        kafkaEngine: applied?.consumer,
        idle,
        summary,
        runs,
      },
      null,
      1,
    ),
  );
  console.log(`\n${table}`);

  // Plots of the last run.
  const last = runs[runs.length - 1];
  const plots: string[] = [];
  const b = last?.sustained.batched;
  if (b) {
    const commitBins = new Map<number, number>();
    let prev = 0;
    for (const c of b.commitSeries) {
      const bin = Math.floor(c.t / 250);
      commitBins.set(bin, (commitBins.get(bin) ?? 0) + (c.total - prev));
      prev = c.total;
    }
    const tp = [
      ...[...commitBins].map(([bin, n]) => ({ t: (bin * 250) / 1000, series: 'committed in Postgres', perSec: n * 4 })),
      ...b.visibleSeries.map((v) => ({ t: v.t / 1000, series: 'visible in ClickHouse', perSec: v.n * 4 })),
    ];
    fs.writeFileSync(path.join(outDir, 'throughput.svg'), await throughputPlot(`Sustained CDC, ${b.changes} changes in ${opts.txRows}-row transactions (run ${last.run})`, tp));
    const lagRows = b.lag.flatMap((s) => [
      { t: s.t / 1000, stage: 'Postgres: WAL not yet sent to Debezium (bytes)', value: s.slotSentBytes ?? 0 },
      { t: s.t / 1000, stage: 'Postgres: WAL not confirmed by Debezium (bytes)', value: s.slotConfirmedBytes ?? 0 },
      { t: s.t / 1000, stage: 'Kafka: messages not consumed by ClickHouse', value: s.kafkaLag },
      { t: s.t / 1000, stage: 'ClickHouse: committed changes not yet applied', value: s.chLag },
    ]);
    fs.writeFileSync(path.join(outDir, 'lag.svg'), await lagPlot('Lag per stage during the batched workload', lagRows));
    plots.push('throughput.svg', 'lag.svg');
  }
  const bars = loadBars(summary);
  if (bars.length) {
    fs.writeFileSync(path.join(outDir, 'load.svg'), await barPlot(`Loading ${opts.loadRows} rows into ClickHouse (medians of ${runs.length} run(s), min-max)`, bars));
    plots.push('load.svg');
  }
  if (last) {
    const cdfRows: { ms: number; pct: number; series: string }[] = [];
    const add = (series: string, pcts: number[]) => pcts.forEach((ms, i) => cdfRows.push({ ms, pct: i + 1, series }));
    if (last.latency.ours) add('single change at idle: ours', cdf(last.latency.ours));
    if (last.latency.peerDefault) add('single change at idle: peer, default polling', cdf(last.latency.peerDefault));
    if (last.latency.peerTuned) add('single change at idle: peer, tuned polling', cdf(last.latency.peerTuned));
    if (last.sustained.batched) add('sustained batched: ours, every change', last.sustained.batched.latencyCdf);
    if (last.sustained.single) add('sustained 1-row tx: ours, every change', last.sustained.single.latencyCdf);
    if (cdfRows.length) {
      fs.writeFileSync(path.join(outDir, 'latency.svg'), await latencyPlot('Commit -> visible latency distribution', cdfRows));
      plots.push('latency.svg');
    }
  }
  log(`results: ${path.relative(repoRoot, outDir)}/ (results.json, table.md, run-*.json${plots.length ? ', ' + plots.join(', ') : ''})`);
  if (opts.latest) {
    const latest = path.join(repoRoot, 'bench', 'latest');
    fs.mkdirSync(latest, { recursive: true });
    for (const f of ['table.md', 'results.json', ...plots]) fs.copyFileSync(path.join(outDir, f), path.join(latest, f));
    const readme = path.join(repoRoot, 'bench', 'README.md');
    if (fs.existsSync(readme)) {
      const text = fs.readFileSync(readme, 'utf8');
      const begin = '<!-- latest:begin -->';
      const end = '<!-- latest:end -->';
      const i = text.indexOf(begin);
      const j = text.indexOf(end);
      if (i >= 0 && j > i) {
        const imgs = plots.map((p) => `![${p.replace('.svg', '')}](latest/${p})`).join('\n\n');
        fs.writeFileSync(readme, `${text.slice(0, i + begin.length)}\n${table}\n${imgs}\n${text.slice(j)}`);
        log('bench/README.md: latest table and plots refreshed');
      }
    }
  }
}

function pick(o: Record<string, string>, ks: string[]): Record<string, string> {
  return Object.fromEntries(ks.filter((k) => k in o).map((k) => [k, o[k]!]));
}

main().catch((err: unknown) => {
  // One line first; a refused connection is the stack not being up (its fix said), anything else keeps its stack for the bench's author.
  const cause = err instanceof Error && err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
  const text = err instanceof Error ? `${err.message}${cause}` : String(err);
  const down = /ECONNREFUSED/.test(text) ? ' (is the dev stack up? npm run stack -- up && npm run setup)' : '';
  console.error(`error: ${text}${down}`);
  if (!down && err instanceof Error && err.stack) console.error(err.stack);
  process.exit(1);
});
