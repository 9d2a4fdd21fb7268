/**
 * CPU of the JVMs' JIT compiler threads per stack component, from /proc: a
 * JVM compiles for minutes after it starts (and again after a burst of new
 * work), and an idle figure taken meanwhile reads several points of a core
 * higher than the settled stack's (bench/README.md, latency log rows 14–16).
 * HotSpot names those threads "C1 CompilerThreadN" / "C2 CompilerThreadN",
 * which the kernel cuts to 15 characters.
 */
import fs from 'node:fs';
import { componentRoots, microsPerTick, parseStat, processTree, readProcs } from './proc.ts';

const compilerThread = /^C[12] CompilerThre/;

/** Ticks used so far by the JIT compiler threads of one process (0 if it has none or ended). */
export function jitTicksOf(pid: number): number {
  let ticks = 0;
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      if (!compilerThread.test(fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8'))) continue;
      ticks += parseStat(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')).ownTicks;
    } catch {
      /* the thread ended while we read */
    }
  }
  return ticks;
}

/** µs of CPU used so far by JIT compiler threads, per component that has any (the JVMs: connect, kafka, registry). */
export function jitSnapshot(pidDir: string): Map<string, number> {
  const procs = readProcs();
  const out = new Map<string, number>();
  for (const [component, root] of componentRoots(pidDir)) {
    const us = processTree(procs, root).reduce((sum, pid) => sum + jitTicksOf(pid), 0) * microsPerTick();
    if (us > 0) out.set(component, us);
  }
  return out;
}

/** % of one core each component's JIT threads used between two snapshots `ms` apart, largest first. */
export function jitPercent(a: Map<string, number>, b: Map<string, number>, ms: number): [string, number][] {
  return [...b]
    .map(([c, us]): [string, number] => [c, Math.round(((us - (a.get(c) ?? 0)) / (ms * 1000)) * 1000) / 10])
    .sort((x, y) => y[1] - x[1]);
}
