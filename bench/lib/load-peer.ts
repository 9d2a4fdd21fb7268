/**
 * ClickHouse's MaterializedPostgreSQL in the load scenario: a database of
 * that engine over public.bench_load in the same chDB server (as the peer of
 * the other scenarios, bench/lib/baselines.ts), timed from CREATE DATABASE
 * (which returns before the initial load is done) until its table counts N
 * rows. Dropped before and after each run: its slot and publication go with it.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { createPeerDatabase } from './baselines.ts';
import { finalCount, measured, waitForCount, type LoadRun } from './load-result.ts';
import { loadNames } from './objects.ts';

export const peerLoadDatabase = 'bench_load_peer';

export async function peerLoad(d: { ch: ClickHouseClient; pidDir: string }, pgUrl: string, rows: number, timeoutMs: number): Promise<LoadRun> {
  const drop = () => d.ch.command({ query: `DROP DATABASE IF EXISTS ${peerLoadDatabase} SYNC` });
  const table = `${peerLoadDatabase}.${loadNames.table}`;
  await drop();
  try {
    const start = Date.now();
    const { value: done, memory, chTracked } = await measured(d, { absolute: [], growth: ['clickhouse'] }, async () => {
      await createPeerDatabase(d.ch, pgUrl, peerLoadDatabase, loadNames.table);
      return waitForCount(d.ch, table, rows, { timeoutMs });
    });
    const elapsedMs = done - start;
    return { rows, elapsedMs, rowsPerSec: rows / (elapsedMs / 1000), memory, chTracked, stateOk: (await finalCount(d.ch, table, false)) === rows, detail: {} };
  } finally {
    await drop();
  }
}
