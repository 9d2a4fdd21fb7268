/**
 * The process table from /proc, as the CPU and memory figures read it: for
 * each process its parent, its CPU time (own and reaped children's) and its
 * resident memory; and the process trees the stack manager's pidfiles root.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isOurs, readPidfile } from '../../stack/lib/process.ts';

export interface ProcStat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks */
  ticks: number;
  /** utime + stime: this process's (or, read from a task's stat, this thread's) own, in clock ticks */
  ownTicks: number;
  /** resident set size, in pages */
  rssPages: number;
}

/** One /proc/<pid>/stat line. */
export function parseStat(stat: string): ProcStat {
  // comm (field 2) may hold spaces and parentheses: fields after the last ')' are plain.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14-17, rss is field 24.
  const ownTicks = Number(f[11]) + Number(f[12]);
  return { ppid: Number(f[1]), ticks: ownTicks + Number(f[13]) + Number(f[14]), ownTicks, rssPages: Number(f[21]) };
}

export function readProcs(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      out.set(Number(entry), parseStat(fs.readFileSync(`/proc/${entry}/stat`, 'utf8')));
    } catch {
      /* the process ended while we read */
    }
  }
  return out;
}

/** `root` and every live descendant of it. */
export function processTree(procs: Map<number, ProcStat>, root: number): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const out: number[] = [];
  const todo = procs.has(root) ? [root] : [];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** The root pid of each running stack component whose pidfile is in `pidDir` (worker, connect, clickhouse, ...). */
export function componentRoots(pidDir: string): Map<string, number> {
  const out = new Map<string, number>();
  const files = fs.existsSync(pidDir) ? fs.readdirSync(pidDir).filter((f) => f.endsWith('.pid')) : [];
  for (const file of files) {
    const rec = readPidfile(path.join(pidDir, file));
    if (isOurs(rec)) out.set(file.slice(0, -'.pid'.length), rec.pid);
  }
  return out;
}

const getconf = (name: string, fallback: number): number => {
  try {
    return Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim()) || fallback;
  } catch {
    return fallback;
  }
};

let tickUs: number | undefined;
/** Linux's USER_HZ is 100 everywhere it matters. */
export const microsPerTick = (): number => (tickUs ??= 1e6 / getconf('CLK_TCK', 100));

let pageBytes: number | undefined;
export const bytesPerPage = (): number => (pageBytes ??= getconf('PAGESIZE', 4096));
