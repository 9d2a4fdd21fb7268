/**
 * The groups scenario: the batched workload over two tables captured in ONE
 * table group (one publication, slot and connector), then over two tables in
 * TWO groups (a slot and connector each), in the same invocation -> changes/s
 * and CPU per change per component of each, and their ratio.
 *
 * The groups are made the way users make them: `astros tables add <t> --group
 * G` (the addTable workflow: publication, slot, connector over Connect's REST
 * API), so the bench measures what ships; its tables therefore live in the
 * pipeline's catalog (ClickHouse database astros) while the run lasts.
 * Each configuration has its own two tables (no state carried from one to the
 * other); `astros tables remove --drop` takes them out afterwards (the last
 * table of a group retires its connector, slot and publication), then their
 * Postgres tables and topics are dropped. The same cleanup runs first, so a
 * rerun after an interrupted one starts clean.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { repoRoot } from '../../stack/lib/context.ts';
import { groupNames, pipelineNames, tableNames, type TableNames } from '../../shared/names.ts';
import { sleep } from './baselines.ts';
import { cliEnv } from './env.ts';
import { cpuDelta, cpuSnapshot, perChange, type CpuPerChange, type IdleRate } from './cpu.ts';
import { runWorkload } from './workload.ts';

export interface GroupsDeps {
  pool: pg.Pool;
  ch: ClickHouseClient;
  admin: Admin;
  pgUrl: string;
  pidDir: string;
  /** the pipeline's Postgres login (DATABASE_URL's user): owns the scenario's tables */
  owner: string;
}

/** One configuration: its tables and the group each is added to. */
export interface GroupsConfig {
  label: 'one group' | 'two groups';
  key: 'oneGroup' | 'twoGroups';
  tables: { source: string; group: string }[];
}

export const groupsConfigs: GroupsConfig[] = [
  {
    label: 'one group',
    key: 'oneGroup',
    tables: [
      { source: 'public.bench_grp1_a', group: 'bench_one' },
      { source: 'public.bench_grp1_b', group: 'bench_one' },
    ],
  },
  {
    label: 'two groups',
    key: 'twoGroups',
    tables: [
      { source: 'public.bench_grp2_a', group: 'bench_two_a' },
      { source: 'public.bench_grp2_b', group: 'bench_two_b' },
    ],
  },
];

const allTables = groupsConfigs.flatMap((c) => c.tables);

export interface GroupsResult {
  changes: number;
  commitMs: number;
  /** workload start -> last change of both tables visible in ClickHouse */
  visibleMs: number;
  changesPerSec: number;
  drainAfterCommitMs: number;
  /** current state FINAL equals the workload's end state, both tables */
  stateOk: boolean;
  cpu: CpuPerChange;
  /** the groups' connectors, as registered by the adds */
  connectors: string[];
}

/** After the last change is visible the CPU window stays open this long (as in ours.ts). */
const CPU_TAIL_MS = 2_000;

/** Run the product's CLI (`astros <args>`) on the same stack; its output goes to the bench's log. */
async function astros(args: string[], log: (m: string) => void): Promise<void> {
  const out = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'cli', 'astros.ts'), ...args], { cwd: repoRoot, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, text }));
  });
  const last = out.text.trim().split('\n').filter(Boolean).slice(-2).join(' | ');
  if (out.code !== 0) throw new Error(`astros ${args.join(' ')} exited ${out.code}: ${last}`);
  log(`  astros ${args.join(' ')}: ${last}`);
}

/** The bench's tables still active in the catalog (an earlier run that stopped half-way). */
async function activeInCatalog(pool: pg.Pool): Promise<Set<string>> {
  const r = await pool.query<{ source: string }>(`select source from public.captured_tables where state <> 'removed' and source = any($1)`, [allTables.map((t) => t.source)]);
  return new Set(r.rows.map((x) => x.source));
}

/** The scenario adds tables to the running pipeline: it must have been set up (its ClickHouse database exists). */
export async function requirePipeline(ch: ClickHouseClient): Promise<void> {
  const db = pipelineNames.clickhouseDatabase;
  if ((await count(ch, `SELECT count() AS n FROM system.databases WHERE name = '${db}'`)) === 0) {
    throw new Error(`the groups scenario adds tables to the running pipeline, which is not set up (no ClickHouse database ${db}): run npm run setup first`);
  }
}

/**
 * Remove everything the scenario made (idempotent): each table still captured
 * through `tables remove --drop` (its group's connector, slot and publication
 * go with the last table), then the Postgres tables, topics and consumer groups.
 */
export async function cleanupGroups(d: Omit<GroupsDeps, 'owner'>, log: (m: string) => void): Promise<void> {
  const active = await activeInCatalog(d.pool);
  for (const t of allTables) if (active.has(t.source)) await astros(['tables', 'remove', t.source, '--drop'], log);
  for (const t of allTables) await d.pool.query(`drop table if exists ${t.source}`);
  const names = allTables.map((t) => tableNames(t.source));
  const topics = new Set(await d.admin.listTopics());
  const gone = names.map((n) => n.topic).filter((x) => topics.has(x));
  if (gone.length) await d.admin.deleteTopics({ topics: gone });
  const groups = new Set((await d.admin.listGroups()).groups.map((g) => g.groupId));
  const stale = names.map((n) => n.group).filter((g) => groups.has(g));
  if (stale.length) await d.admin.deleteGroups(stale).catch(() => undefined);
  const slots = await d.pool.query<{ slot_name: string }>('select slot_name from pg_replication_slots where slot_name = any($1)', [allTables.map((t) => groupNames(t.group).slot)]);
  if (slots.rows.length) log(`  note: slots left after the removes: ${slots.rows.map((r) => r.slot_name).join(', ')}`);
}

async function count(ch: ClickHouseClient, query: string): Promise<number> {
  const rs = await ch.query({ query, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]?.n ?? 0);
}

/** One change end to end per table (the new connectors' tasks may still be starting). */
async function warmUp(d: GroupsDeps, ns: TableNames[], timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const n of ns) {
    await d.pool.query(`insert into ${n.source} (id, v, payload) values (0, 1, 'warm-up') on conflict (id) do nothing`);
    while ((await count(d.ch, `SELECT count() AS n FROM ${n.changelog}`)) < 1) {
      if (Date.now() > deadline) throw new Error(`warm-up: no change of ${n.source} reached ${n.changelog} within ${timeoutMs} ms`);
      await sleep(250);
    }
  }
}

/**
 * One configuration: its tables created and added to their groups, warmed up,
 * then `changes` changes (half per table, both written at once, each by its
 * own connection) measured until all are visible.
 */
export async function groupsRun(
  d: GroupsDeps,
  config: GroupsConfig,
  spec: { changes: number; cycleRows: number; timeoutMs: number },
  idle: IdleRate,
  log: (m: string) => void,
): Promise<GroupsResult> {
  const ns = config.tables.map((t) => tableNames(t.source));
  for (const t of config.tables) {
    await d.pool.query(`create table if not exists ${t.source} (id bigint primary key, v integer not null, payload text not null, updated_at timestamptz not null default now())`);
    // Owned by the pipeline's login, as an application's table it captures would be: the add sets its
    // replica identity itself; the CDC role's grant is the owner's step (the add names it when missing).
    await d.pool.query(`alter table ${t.source} owner to ${d.owner}`);
    await d.pool.query(`grant select on ${t.source} to astros_cdc`);
    await astros(['tables', 'add', t.source, '--group', t.group], log);
  }
  await warmUp(d, ns);
  const base = await Promise.all(ns.map((n) => count(d.ch, `SELECT count() AS n FROM ${n.changelog}`)));
  const per = Math.round(spec.changes / ns.length);
  const cpu0 = cpuSnapshot(d.pidDir);
  const startMs = Date.now();
  const ws = await Promise.all(ns.map((n) => runWorkload(d.pgUrl, { table: n.source, changes: per, mode: 'batched', cycleRows: spec.cycleRows, concurrency: 1, firstId: 1 })));
  const total = ws.reduce((s, w) => s + w.changes, 0);
  const endMs = Math.max(...ws.map((w) => w.endMs));
  log(`  committed ${total} changes in ${endMs - startMs} ms; waiting for ClickHouse`);
  const deadline = Date.now() + spec.timeoutMs;
  for (;;) {
    const got = await Promise.all(ns.map((n) => count(d.ch, `SELECT count() AS n FROM ${n.changelog}`)));
    if (got.every((g, i) => g - base[i]! >= ws[i]!.changes)) break;
    if (Date.now() > deadline) throw new Error(`ClickHouse applied ${got.map((g, i) => g - base[i]!).join(' + ')} of ${total} changes after ${spec.timeoutMs} ms`);
    await sleep(100);
  }
  await sleep(CPU_TAIL_MS);
  const cpu = perChange(cpuDelta(cpu0, cpuSnapshot(d.pidDir)), idle, total);
  const lastMs = Math.max(...(await Promise.all(ns.map((n) => count(d.ch, `SELECT toUnixTimestamp64Milli(max(ingested_at)) AS n FROM ${n.changelog}`)))));
  let stateOk = true;
  for (const [i, n] of ns.entries()) {
    const live = await count(d.ch, `SELECT countIf(v = 1) AS n FROM ${n.current} FINAL WHERE is_deleted = 0 AND id > 0`);
    const all = await count(d.ch, `SELECT count() AS n FROM ${n.current} FINAL WHERE is_deleted = 0 AND id > 0`);
    stateOk &&= live === ws[i]!.expectedLive && all === ws[i]!.expectedLive;
  }
  const visibleMs = lastMs - startMs;
  return {
    changes: total,
    commitMs: endMs - startMs,
    visibleMs,
    changesPerSec: total / (visibleMs / 1000),
    drainAfterCommitMs: lastMs - endMs,
    stateOk,
    cpu,
    connectors: [...new Set(config.tables.map((t) => groupNames(t.group).connector))],
  };
}
