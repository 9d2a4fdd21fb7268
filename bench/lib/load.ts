/**
 * The load scenario: public.bench_load (N rows, bench/lib/load-table.ts)
 * loaded into ClickHouse three ways, one after another, each from a cold
 * start: ours (resyncTable, bench/lib/load-ours.ts), Debezium's own initial
 * snapshot through Kafka (bench/lib/load-debezium.ts) and MaterializedPostgreSQL's
 * initial load (bench/lib/load-peer.ts). Rows/s, elapsed time and peak
 * memory (bench/lib/memory.ts) of each; the table and the plot of the report.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Client } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import type { BenchEnv } from './env.ts';
import { debeziumLoad } from './load-debezium.ts';
import { oursLoad } from './load-ours.ts';
import { peerLoad } from './load-peer.ts';
import type { LoadRun } from './load-result.ts';
import type { Tuning } from './objects.ts';
import { cell as cellOf, fmt, ratio as ratioOf, type Summary } from './stats.ts';

export const loadContenders = ['ours', 'debezium', 'matpg'] as const;
export type LoadContender = (typeof loadContenders)[number];

export const loadLabels: Record<LoadContender, string> = {
  ours: 'ours (resyncTable)',
  debezium: 'Debezium snapshot',
  matpg: 'MaterializedPostgreSQL',
};

/** What each contender's peak memory counts (pidfile names; bench/README.md says the same). */
export const memoryCounted: Record<LoadContender, string> = {
  ours: 'the Temporal worker (growth) + the chDB server (growth)',
  debezium: 'Kafka Connect (whole) + the chDB server (growth)',
  matpg: 'the chDB server (growth)',
};

export interface LoadDeps {
  pool: pg.Pool;
  ch: ClickHouseClient;
  admin: Admin;
  temporal: Client;
  pidDir: string;
}

export interface LoadOptions {
  rows: number;
  parallel?: number;
  rangeRows?: number;
  /** Leave out Debezium's snapshot (minutes a run): for quick comparisons of ours against MaterializedPostgreSQL. */
  skipDebezium?: boolean;
  timeoutMs: number;
}

export async function loadScenario(d: LoadDeps, env: BenchEnv, tuning: Tuning, o: LoadOptions, log: (m: string) => void): Promise<Partial<Record<LoadContender, LoadRun>>> {
  const line = (c: LoadContender, r: LoadRun) =>
    `  ${fmt(r.rowsPerSec)} rows/s (${fmt(r.elapsedMs / 1000)} s), peak memory ${fmt(r.memory.peakMiB)} MiB (${memoryParts(r)}; ClickHouse tracked ${fmt(r.chTracked.startMiB)} -> ${fmt(r.chTracked.peakMiB)}), ` +
    `state ${r.stateOk ? 'ok' : 'MISMATCH'}${c === 'ours' ? `; ${oursPhases(r.detail)}` : ''}`;
  log(` load ${o.rows} rows: ours (resyncTable on ${env.taskQueue})`);
  const ours = await oursLoad({ ...d, taskQueue: env.taskQueue }, o);
  log(line('ours', ours));
  let debezium: LoadRun | undefined;
  if (!o.skipDebezium) {
    log(` load ${o.rows} rows: Debezium snapshot (connector bench-snapshot)`);
    debezium = await debeziumLoad(d, env, tuning, o.rows, o.timeoutMs, log);
    log(line('debezium', debezium));
  }
  log(` load ${o.rows} rows: MaterializedPostgreSQL`);
  const matpg = await peerLoad(d, env.pgUrl, o.rows, o.timeoutMs);
  log(line('matpg', matpg));
  return { ours, ...(debezium ? { debezium } : {}), matpg };
}

const memoryParts = (r: LoadRun): string =>
  Object.entries(r.memory.components)
    .map(([c, m]) => `${c} ${fmt(m.startMiB)} -> ${fmt(m.peakMiB)}`)
    .join(', ');

const oursPhases = (x: Record<string, number>): string =>
  `prepare ${fmt((x.prepareMs ?? NaN) / 1000)} s, load ${fmt((x.loadMs ?? NaN) / 1000)} s (${x.ranges} ranges, ${fmt(x.loadRowsPerSec ?? NaN)} rows/s), ` +
  `swap ${fmt((x.swapMs ?? NaN) / 1000)} s, complete ${fmt((x.completeMs ?? NaN) / 1000)} s`;

/** Flat metrics "load.<contender>.<metric>" of one run. */
export function loadMetrics(m: Record<string, number>, r: Partial<Record<LoadContender, LoadRun>>): void {
  for (const c of loadContenders) {
    const x = r[c];
    if (!x) continue;
    m[`load.${c}.rowsPerSec`] = x.rowsPerSec;
    m[`load.${c}.elapsedMs`] = x.elapsedMs;
    m[`load.${c}.peakMiB`] = x.memory.peakMiB;
    m[`load.${c}.chTrackedGrowthMiB`] = x.chTracked.peakMiB - x.chTracked.startMiB;
    for (const [comp, v] of Object.entries(x.memory.components)) {
      m[`load.${c}.mem.${comp}.startMiB`] = v.startMiB;
      m[`load.${c}.mem.${comp}.peakMiB`] = v.peakMiB;
    }
    for (const [k, v] of Object.entries(x.detail)) m[`load.${c}.${k}`] = v;
  }
}

/**
 * The load table: medians (min–max) and ratios of medians (ours ÷ the other:
 * above 1× means faster for rows/s, more memory for MiB).
 */
export function loadReport(summary: Summary, o: Pick<LoadOptions, 'rows' | 'parallel' | 'rangeRows'>): string[] {
  const cell = (key: string) => cellOf(summary, key);
  const ratio = (a: string, b: string) => ratioOf(summary, a, b);
  if (!summary['load.ours.rowsPerSec'] && !summary['load.matpg.rowsPerSec']) return [];
  const k = (c: LoadContender, metric: string) => `load.${c}.${metric}`;
  const row = (label: string, metric: string, oursMetric = metric) =>
    `| ${label} | ${cell(k('ours', oursMetric))} | ${cell(k('debezium', metric))} | ${cell(k('matpg', metric))} | ${ratio(k('ours', oursMetric), k('matpg', metric))} | ${ratio(k('ours', oursMetric), k('debezium', metric))} |`;
  const med = (key: string) => summary[key]?.median ?? NaN;
  const s = (key: string) => fmt(med(key) / 1000);
  return [
    `| load, ${o.rows} rows | ${loadContenders.map((c) => loadLabels[c]).join(' | ')} | ours ÷ MaterializedPostgreSQL | ours ÷ Debezium |`,
    '|---|---|---|---|---|---|',
    row('rows/s', 'rowsPerSec'),
    row('ms, start -> all rows in ClickHouse', 'elapsedMs'),
    row('MiB peak memory (resident, see below)', 'peakMiB'),
    row('MiB ClickHouse tracked memory, peak growth', 'chTrackedGrowthMiB'),
    row('rows/s, ours: its load phase alone (the others: whole)', 'rowsPerSec', 'loadRowsPerSec'),
    '',
    `Load: \`public.bench_load\`, ${o.rows} rows (bench/lib/load-table.ts), each contender from a cold start. Ours: resyncTable ` +
      `(${o.parallel ? `${o.parallel} ranges at once` : "the workflow's default parallelism"}, ${o.rangeRows ? `~${o.rangeRows} rows a range` : 'its default range size'}; ` +
      `closing validation skipped), timed from the workflow's start to its completion; ` +
      `phases from its history (medians): prepare ${s('load.ours.prepareMs')} s, load ${s('load.ours.loadMs')} s (${med('load.ours.ranges')} ranges; ` +
      `their run times add up to ${s('load.ours.rangeBusyMs')} s), swap ${s('load.ours.swapMs')} s, complete ${s('load.ours.completeMs')} s. ` +
      `Debezium: its own connector with snapshot.mode=initial, from registration until the catalog-derived current state counts every row. ` +
      `MaterializedPostgreSQL: from CREATE DATABASE until its table counts every row. Ratios are of medians: ` +
      `above 1× means ours is faster (rows/s), slower (s) or uses more memory (MiB).`,
    '',
    `Peak memory: the largest sum over one sample (every 250 ms) of resident memory of process trees: ` +
      loadContenders.map((c) => `${loadLabels[c]}: ${memoryCounted[c]} (${memoryMedians(summary, c)})`).join('; ') +
      '. "Whole" counts what the process holds at the peak, "growth" what it gained since the contender started; ' +
      'the chDB server keeps memory its allocator once took, so a contender that runs after another may show less growth than it used. ' +
      "ClickHouse's tracked memory (system.metrics MemoryTracking: queries, merges, consumers) has no such bias but leaves out the server's HTTP buffers.",
  ];
}

function memoryMedians(summary: Summary, c: LoadContender): string {
  const comps = [...new Set(Object.keys(summary).flatMap((k) => new RegExp(`^load\\.${c}\\.mem\\.([^.]+)\\.peakMiB$`).exec(k)?.[1] ?? []))];
  return comps
    .map((comp) => `${comp} ${fmt(summary[`load.${c}.mem.${comp}.startMiB`]?.median ?? NaN)} -> ${fmt(summary[`load.${c}.mem.${comp}.peakMiB`]?.median ?? NaN)} MiB`)
    .join(', ');
}

/** Bars of the plot: rows/s and peak memory per contender (median, min, max). */
export function loadBars(summary: Summary): { panel: string; contender: string; median: number; min: number; max: number }[] {
  return (
    [
      ['rows/s (start -> all rows in ClickHouse)', 'rowsPerSec'],
      ['peak memory, MiB', 'peakMiB'],
    ] as const
  ).flatMap(([panel, metric]) =>
    loadContenders.flatMap((c) => {
      const x = summary[`load.${c}.${metric}`];
      return x && x.n > 0 ? [{ panel, contender: loadLabels[c], median: x.median, min: x.min, max: x.max }] : [];
    }),
  );
}
