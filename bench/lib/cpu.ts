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
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isOurs, readPidfile } from '../../stack/lib/process.ts';

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

let tickUs: number | undefined;
function microsPerTick(): number {
  if (tickUs === undefined) {
    let hz = 100;
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      /* Linux's USER_HZ is 100 everywhere it matters */
    }
    tickUs = 1e6 / hz;
  }
  return tickUs;
}

interface ProcStat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks */
  ticks: number;
}

function readProcs(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // comm (field 2) may hold spaces and parentheses: fields after the last ')' are plain.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14-17.
      out.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      /* the process ended while we read */
    }
  }
  return out;
}

export interface CpuSnapshot {
  atMs: number;
  /** µs of CPU used so far by each group's process trees */
  us: PerGroup;
}

const zero = (): PerGroup => ({ connect: 0, clickhouse: 0, kafka: 0, postgres: 0, other: 0 });

/** CPU used so far by every running component of the stack whose pidfiles are in `pidDir`. */
export function cpuSnapshot(pidDir: string): CpuSnapshot {
  const procs = readProcs();
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const us = zero();
  const files = fs.existsSync(pidDir) ? fs.readdirSync(pidDir).filter((f) => f.endsWith('.pid')) : [];
  for (const file of files) {
    const rec = readPidfile(path.join(pidDir, file));
    if (!isOurs(rec)) continue;
    let ticks = 0;
    const todo = [rec.pid];
    while (todo.length > 0) {
      const pid = todo.pop()!;
      ticks += procs.get(pid)?.ticks ?? 0;
      todo.push(...(children.get(pid) ?? []));
    }
    us[groupOf(file.slice(0, -'.pid'.length))] += ticks * microsPerTick();
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
