/**
 * Peak resident memory of a contender, sampled from /proc every 250 ms while
 * it works: the resident set (VmRSS, all threads) of stack components' process
 * trees (the process the stack manager started and every live descendant).
 *
 * A component counts either whole (`absolute`: the process that does the
 * contender's work and nothing else's, the Temporal worker or Kafka Connect)
 * or by its growth over its first sample (`growth`: the chDB server, which
 * also holds every other table and whose baseline belongs to no contender).
 * The contender's figure is the largest sum over one sample, so two
 * components' peaks at different moments are not added.
 *
 * The chDB server's resident set keeps what its allocator once took: a
 * contender that runs after another finds memory already resident and shows
 * less growth. ClickHouse's own count of what its queries, merges and
 * consumers hold (system.metrics MemoryTracking) has no such memory; it is
 * sampled beside it (`startTrackedSampler`).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { bytesPerPage, componentRoots, processTree, readProcs } from './proc.ts';

export interface MemorySpec {
  /** components counted whole (pidfile names: worker, connect, ...) */
  absolute: string[];
  /** components counted by their growth over the first sample (clickhouse) */
  growth: string[];
}

export interface MemoryPeak {
  /** the largest sum over one sample, MiB */
  peakMiB: number;
  /** each component's first and largest sample, MiB */
  components: Record<string, { startMiB: number; peakMiB: number }>;
  samples: number;
}

/** One sample: MiB per component. */
export type MemorySample = Record<string, number>;

/** Pure: the peak of the contender's sum over the samples, and each component's first and largest. */
export function memoryPeak(samples: MemorySample[], spec: MemorySpec): MemoryPeak {
  const first = samples[0] ?? {};
  const components: MemoryPeak['components'] = {};
  for (const c of [...spec.absolute, ...spec.growth]) {
    const xs = samples.map((s) => s[c] ?? 0);
    components[c] = { startMiB: first[c] ?? 0, peakMiB: xs.length ? Math.max(...xs) : 0 };
  }
  let peakMiB = 0;
  for (const s of samples) {
    const sum = spec.absolute.reduce((a, c) => a + (s[c] ?? 0), 0) + spec.growth.reduce((a, c) => a + Math.max(0, (s[c] ?? 0) - (first[c] ?? 0)), 0);
    peakMiB = Math.max(peakMiB, sum);
  }
  return { peakMiB, components, samples: samples.length };
}

/** MiB resident per component, now. */
function sample(pidDir: string, components: string[]): MemorySample {
  const procs = readProcs();
  const roots = componentRoots(pidDir);
  const out: MemorySample = {};
  for (const c of components) {
    const root = roots.get(c);
    const pages = root === undefined ? 0 : processTree(procs, root).reduce((sum, pid) => sum + (procs.get(pid)?.rssPages ?? 0), 0);
    out[c] = (pages * bytesPerPage()) / 2 ** 20;
  }
  return out;
}

/** Samples every `intervalMs` until stopped; the first sample is taken at once (the growth baseline). */
export function startMemorySampler(pidDir: string, spec: MemorySpec, intervalMs = 250): { stop: () => MemoryPeak } {
  const components = [...spec.absolute, ...spec.growth];
  const samples = [sample(pidDir, components)];
  const timer = setInterval(() => samples.push(sample(pidDir, components)), intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      samples.push(sample(pidDir, components));
      return memoryPeak(samples, spec);
    },
  };
}

/** ClickHouse's tracked memory (MemoryTracking), MiB: the first sample and the largest, until stopped. */
export function startTrackedSampler(ch: ClickHouseClient, intervalMs = 250): { stop: () => Promise<{ startMiB: number; peakMiB: number }> } {
  const read = async (): Promise<number | undefined> => {
    const rs = await ch.query({ query: "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'", format: 'JSONEachRow' }).catch(() => undefined);
    const v = rs ? (await rs.json<{ value: string }>())[0]?.value : undefined;
    return v === undefined ? undefined : Number(v) / 2 ** 20;
  };
  const xs: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const v = await read();
      if (v !== undefined) xs.push(v);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { startMiB: xs[0] ?? NaN, peakMiB: xs.length ? Math.max(...xs) : NaN };
    },
  };
}
