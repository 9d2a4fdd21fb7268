/**
 * CPU time per stack component, read from /proc: for each component the
 * process the stack manager started (its pidfile) and every live descendant,
 * user + system time of all their threads, plus the time of exited children
 * they reaped (cutime/cstime: a Postgres backend that ends is added to the
 * postmaster's). The difference of two snapshots is what the component used
 * in between; subtracting the idle stack's rate over the same time gives
 * what the work itself cost.
 *
 * The chDB host also runs the MaterializedPostgreSQL peer: the bench measures
 * only while ours runs (the peer's databases exist only during its own runs).
 */
import { componentRoots, microsPerTick, processTree, readProcs } from './proc.ts';

/** How the figures are grouped; every other stack component counts as `other`. */
export const cpuGroups = ['connect', 'clickhouse', 'kafka', 'postgres', 'other'] as const;
export type CpuGroup = (typeof cpuGroups)[number];
export type PerGroup = Record<CpuGroup, number>;

export const groupLabels: Record<CpuGroup, string> = {
  connect: 'Kafka Connect',
  clickhouse: 'ClickHouse (chDB host)',
  kafka: 'Kafka broker',
  postgres: 'Postgres',
  other: 'registry, Temporal, worker, monitor',
};

const groupOf = (component: string): CpuGroup => ((cpuGroups as readonly string[]).includes(component) ? (component as CpuGroup) : 'other');

export interface CpuSnapshot {
  atMs: number;
  /** µs of CPU used so far by each group's process trees */
  us: PerGroup;
}

const zero = (): PerGroup => ({ connect: 0, clickhouse: 0, kafka: 0, postgres: 0, other: 0 });

/** CPU used so far by every running component of the stack whose pidfiles are in `pidDir`. */
export function cpuSnapshot(pidDir: string): CpuSnapshot {
  const procs = readProcs();
  const us = zero();
  for (const [component, root] of componentRoots(pidDir)) {
    const ticks = processTree(procs, root).reduce((sum, pid) => sum + (procs.get(pid)?.ticks ?? 0), 0);
    us[groupOf(component)] += ticks * microsPerTick();
  }
  return { atMs: Date.now(), us };
}

export interface CpuDelta {
  ms: number;
  us: PerGroup;
}

export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): CpuDelta {
  const us = zero();
  for (const g of cpuGroups) us[g] = b.us[g] - a.us[g];
  return { ms: b.atMs - a.atMs, us };
}

/** The idle stack's use: µs of CPU per second of wall time, per group. */
export type IdleRate = PerGroup;

export function idleRate(d: CpuDelta): IdleRate {
  const r = zero();
  for (const g of cpuGroups) r[g] = d.us[g] / (d.ms / 1000);
  return r;
}

export interface CpuPerChange {
  changes: number;
  seconds: number;
  /** µs of CPU per change, as used */
  gross: PerGroup & { total: number };
  /** µs of CPU per change after subtracting the idle stack's use over the same time */
  net: PerGroup & { total: number };
}

export function perChange(d: CpuDelta, idle: IdleRate, changes: number): CpuPerChange {
  const gross = { ...zero(), total: 0 };
  const net = { ...zero(), total: 0 };
  for (const g of cpuGroups) {
    gross[g] = d.us[g] / changes;
    net[g] = (d.us[g] - idle[g] * (d.ms / 1000)) / changes;
    gross.total += gross[g];
    net.total += net[g];
  }
  return { changes, seconds: d.ms / 1000, gross, net };
}

/** "Connect 103, ClickHouse 46, … = 191 µs net (226 gross)" */
export function describe(c: CpuPerChange): string {
  const short: Record<CpuGroup, string> = { connect: 'Connect', clickhouse: 'ClickHouse', kafka: 'broker', postgres: 'Postgres', other: 'other' };
  const f = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(1));
  return `CPU per change ${cpuGroups.map((g) => `${short[g]} ${f(c.net[g])}`).join(', ')} = ${f(c.net.total)} µs net of idle (${f(c.gross.total)} gross)`;
}
