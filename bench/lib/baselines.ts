/**
 * The two baselines, fed the same workload as our pipeline (on public.bench_base):
 *
 * - ceiling: `pg_recvlogical` streaming the workload's WAL with pgoutput to
 *   /dev/null, started after the workload committed (the slot holds the WAL),
 *   timed until it reaches the workload's end LSN: the capture rate of
 *   logical decoding + walsender on this box, the bound any pgoutput consumer
 *   (Debezium included) lives under.
 * - peer: ClickHouse's own MaterializedPostgreSQL database engine running in
 *   the same chDB server (through its HTTP API), with its default polling and
 *   tuned polling (materialized_postgresql_backoff_min_ms/max_ms).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { spawn } from 'node:child_process';
import type pg from 'pg';
import type { BenchEnv } from './env.ts';
import { names } from './objects.ts';
import { runWorkload, type WorkloadResult, type WorkloadSpec } from './workload.ts';

const ceilingSlot = 'bench_ceiling';
const ceilingPublication = 'bench_base_publication';

export interface CeilingResult {
  changes: number;
  drainMs: number;
  changesPerSec: number;
  walBytes: number;
}

export async function ceilingDrain(pool: pg.Pool, env: Pick<BenchEnv, 'pgUrl' | 'pgRecvlogical'>, spec: Omit<WorkloadSpec, 'table'>): Promise<CeilingResult> {
  await pool.query(`do $$ begin
    if not exists (select 1 from pg_publication where pubname = '${ceilingPublication}') then
      create publication ${ceilingPublication} for table public.${names.baseTable} with (publish = 'insert, update, delete');
    end if; end $$`);
  await dropSlot(pool, ceilingSlot);
  await pool.query(`truncate public.${names.baseTable}`);
  const slot = await pool.query<{ lsn: string }>(`select lsn::text from pg_create_logical_replication_slot($1, 'pgoutput')`, [ceilingSlot]);
  try {
    const w = await runWorkload(env.pgUrl, { ...spec, table: names.baseTable });
    const u = new URL(env.pgUrl);
    const args = [
      '-d', `host=${u.hostname} port=${u.port || 5432} dbname=${u.pathname.slice(1)} user=${decodeURIComponent(u.username)}`,
      '--slot', ceilingSlot, '--start', '--no-loop', '--endpos', w.endLsn,
      '-o', 'proto_version=1', '-o', `publication_names=${ceilingPublication}`, '-f', '/dev/null',
    ];
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(env.pgRecvlogical, args, { env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_recvlogical exited ${code}: ${err.trim()}`))));
    });
    const drainMs = performance.now() - t0;
    const bytes = await pool.query<{ b: string }>(`select ($1::pg_lsn - $2::pg_lsn)::text as b`, [w.endLsn, slot.rows[0]!.lsn]);
    return { changes: w.changes, drainMs, changesPerSec: w.changes / (drainMs / 1000), walBytes: Number(bytes.rows[0]!.b) };
  } finally {
    await dropSlot(pool, ceilingSlot);
  }
}

async function dropSlot(pool: pg.Pool, slot: string): Promise<void> {
  await pool.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active`, [slot]);
}

export type PeerMode = 'default' | 'tuned';
export const peerTunedSettings = { materialized_postgresql_backoff_min_ms: 10, materialized_postgresql_backoff_max_ms: 100 };

export interface Peer {
  db: string;
  /** poll until the table shows `live` rows with v = 1 (the workloads' end state) */
  waitForState: (live: number, timeoutMs: number) => Promise<number>;
  drop: () => Promise<void>;
}

export async function createPeer(ch: ClickHouseClient, pool: pg.Pool, pgUrl: string, mode: PeerMode): Promise<Peer> {
  const db = `bench_peer_${mode}`;
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` });
  await pool.query(`truncate public.${names.baseTable}`);
  await createPeerDatabase(ch, pgUrl, db, names.baseTable, mode === 'tuned' ? peerTunedSettings : {});
  // The initial (empty) load is done once the table answers.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await ch.query({ query: `SELECT count() FROM ${db}.${names.baseTable}`, format: 'JSONEachRow' }).then((r) => r.json());
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
  return {
    db,
    waitForState: async (live, timeoutMs) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const rs = await ch.query({ query: `SELECT count() AS n, countIf(v = 1) AS s FROM ${db}.${names.baseTable}`, format: 'JSONEachRow' });
        const row = (await rs.json<{ n: string; s: string }>())[0];
        const now = Date.now();
        if (row && Number(row.n) === live && Number(row.s) === live) return now;
        if (now > end) throw new Error(`peer ${db}: expected ${live} rows, has ${row?.n} (sum ${row?.s}) after ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    drop: async () => {
      await ch.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` });
    },
  };
}

/** A MaterializedPostgreSQL database replicating one table of the bench's Postgres database; it returns before the initial load is done. */
export async function createPeerDatabase(ch: ClickHouseClient, pgUrl: string, db: string, table: string, extra: Record<string, number> = {}): Promise<void> {
  const u = new URL(pgUrl);
  const settings = [`materialized_postgresql_tables_list = '${table}'`, ...Object.entries(extra).map(([k, v]) => `${k} = ${v}`)];
  await ch.command({
    query: `CREATE DATABASE ${db} ENGINE = MaterializedPostgreSQL('${u.hostname}:${u.port || 5432}', '${u.pathname.slice(1)}',
      '${decodeURIComponent(u.username)}', '${decodeURIComponent(u.password)}') SETTINGS ${settings.join(', ')}`,
    clickhouse_settings: { allow_experimental_database_materialized_postgresql: 1 },
  });
}

/**
 * Run the workload against the peer's source table and wait for its end state;
 * `liveBefore` = rows already live in the table (earlier workloads in this peer session).
 */
export async function peerSustained(peer: Peer, pgUrl: string, spec: WorkloadSpec, liveBefore: number, timeoutMs: number): Promise<{ w: WorkloadResult; visibleMs: number; changesPerSec: number; drainAfterCommitMs: number }> {
  const w = await runWorkload(pgUrl, spec);
  const seen = await peer.waitForState(liveBefore + w.expectedLive, timeoutMs);
  return { w, visibleMs: seen - w.startMs, changesPerSec: w.changes / ((seen - w.startMs) / 1000), drainAfterCommitMs: seen - w.endMs };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
