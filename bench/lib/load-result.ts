/** What every contender of the load scenario reports, and how the ones timed from outside are watched. */
import type { ClickHouseClient } from '@clickhouse/client';
import { startMemorySampler, startTrackedSampler, type MemoryPeak, type MemorySpec } from './memory.ts';

export interface LoadRun {
  rows: number;
  /** start (workflow start, connector registration, CREATE DATABASE) -> all rows in ClickHouse */
  elapsedMs: number;
  rowsPerSec: number;
  memory: MemoryPeak;
  /** ClickHouse's tracked memory (MemoryTracking) over the same time, MiB */
  chTracked: { startMiB: number; peakMiB: number };
  /** ClickHouse shows exactly the table's rows afterwards (FINAL, deleted rows left out) */
  stateOk: boolean;
  /** the contender's own figures (ours: its phases), flat */
  detail: Record<string, number>;
}

/** Run `work` with both memory samplers around it. */
export async function measured<T>(
  d: { ch: ClickHouseClient; pidDir: string },
  spec: MemorySpec,
  work: () => Promise<T>,
): Promise<{ value: T; memory: MemoryPeak; chTracked: LoadRun['chTracked'] }> {
  const rss = startMemorySampler(d.pidDir, spec);
  const tracked = startTrackedSampler(d.ch);
  let memory: MemoryPeak | undefined;
  try {
    const value = await work();
    memory = rss.stop();
    return { value, memory, chTracked: await tracked.stop() };
  } finally {
    if (!memory) {
      rss.stop();
      await tracked.stop();
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `SELECT count()` of a table every `everyMs` until it reaches `rows`;
 * resolves with the time it did (epoch ms). A table that does not exist yet
 * counts as empty. `check` runs every few seconds to fail early (a failed
 * connector, say).
 */
export async function waitForCount(
  ch: ClickHouseClient,
  table: string,
  rows: number,
  o: { timeoutMs: number; everyMs?: number; check?: () => Promise<void> },
): Promise<number> {
  const end = Date.now() + o.timeoutMs;
  let lastCheck = Date.now();
  for (;;) {
    const have = await ch
      .query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' })
      .then(async (rs) => Number((await rs.json<{ n: string }>())[0]?.n ?? 0))
      .catch(() => 0);
    const now = Date.now();
    if (have >= rows) return now;
    if (now > end) throw new Error(`${table}: ${have} of ${rows} rows after ${o.timeoutMs} ms`);
    if (o.check && now - lastCheck > 5_000) {
      lastCheck = now;
      await o.check();
    }
    await sleep(o.everyMs ?? 100);
  }
}

/** Rows a table shows with FINAL, deleted ones left out (the catalog's current state) or all (a peer's table). */
export async function finalCount(ch: ClickHouseClient, table: string, deletedColumn = true): Promise<number> {
  const rs = await ch.query({ query: `SELECT count() AS n FROM ${table} FINAL${deletedColumn ? ' WHERE is_deleted = 0' : ''}`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]?.n ?? 0);
}
