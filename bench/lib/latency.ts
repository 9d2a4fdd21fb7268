/**
 * Single-change latency at idle: insert one row (its own transaction), take
 * the time COMMIT returned, then poll the target every `pollMs` until the row
 * is visible. Samples are spaced by a random idle gap so they do not queue
 * behind each other. The same routine measures our pipeline and the peer; the
 * poll interval bounds the resolution (the result is an upper bound by at
 * most one poll plus one query).
 */
import type pg from 'pg';
import { sleep } from './baselines.ts';

export interface LatencySamples {
  ids: number[];
  /** commit -> visible, ms, in sample order */
  ms: number[];
  timeouts: number;
}

export async function singleChangeLatency(opts: {
  pool: pg.Pool;
  table: string;
  samples: number;
  isVisible: (id: number) => Promise<boolean>;
  pollMs?: number;
  gapMs?: [number, number];
  timeoutMs?: number;
}): Promise<LatencySamples> {
  const pollMs = opts.pollMs ?? 10;
  const [gMin, gMax] = opts.gapMs ?? [50, 250];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  // Ids that no workload uses and no earlier sample used.
  const base = Date.now() * 1000;
  const out: LatencySamples = { ids: [], ms: [], timeouts: 0 };
  for (let i = 0; i < opts.samples; i++) {
    await sleep(gMin + Math.random() * (gMax - gMin));
    const id = base + i;
    await opts.pool.query(`insert into ${opts.table} (id, v, payload) values ($1, 0, 'latency probe')`, [id]);
    const t0 = performance.now();
    for (;;) {
      if (await opts.isVisible(id)) {
        out.ids.push(id);
        out.ms.push(performance.now() - t0);
        break;
      }
      if (performance.now() - t0 > timeoutMs) {
        out.timeouts++;
        break;
      }
      await sleep(pollMs);
    }
  }
  return out;
}
