/**
 * Process bookkeeping for the native stack: spawn detached with a log file,
 * remember the PID (and the kernel's start time, so a recycled PID is never
 * mistaken for ours), stop only what we started.
 *
 * Hand-rolled on purpose: the npm process managers (pm2, forever) run their
 * own daemon and keep state in the home folder; the stack needs per-profile
 * pidfiles in its state folder and nothing else.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ProcessSpec } from './types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PidRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: distinguishes our process from a later one with the same PID. */
  startTicks: string;
  command: string;
  startedAt: string;
  /** Set before the process is stopped on purpose (`down`, `kill`), so the supervisor does not take its end for a crash. */
  ended?: 'down' | 'kill';
}

/**
 * How a process was started: command, arguments, folder, user and the whole
 * environment it got. The supervisor restarts a crashed process from this, so
 * it comes back as it was started (a worker's TASK_QUEUE, a monitor's
 * ALERT_WEBHOOK_URL), not with the supervisor's own environment. Mode 600 beside
 * the pidfile: the environment holds the stack's passwords.
 */
export type LaunchRecord = Required<Pick<ProcessSpec, 'command' | 'args' | 'env'>> & Pick<ProcessSpec, 'cwd' | 'user'>;

export const launchFileOf = (pidFile: string): string => pidFile.replace(/\.pid$/, '.launch.json');

export function readLaunch(pidFile: string): LaunchRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(launchFileOf(pidFile), 'utf8')) as LaunchRecord;
  } catch {
    return undefined;
  }
}

function procStartTicks(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces; fields after the closing paren are space-separated.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Write a file whole or not at all (readers never see half a pidfile). */
function writeAtomic(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}

/** Mark the pidfile's process as stopped on purpose, before it is signalled. */
export function markEnded(file: string, rec: PidRecord, how: 'down' | 'kill'): void {
  writeAtomic(file, JSON.stringify({ ...rec, ended: how }, null, 2));
}

export function readPidfile(file: string): PidRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

/** True when the pidfile names a live process that is still the one we started. */
export function isOurs(rec: PidRecord | undefined): rec is PidRecord {
  if (!rec) return false;
  const ticks = procStartTicks(rec.pid);
  return ticks !== undefined && ticks === rec.startTicks && !isZombie(rec.pid);
}

/**
 * True once the process is gone from the process table. A killed process
 * whose parent has not reaped it yet (a zombie) is no longer ours but still
 * holds its pid, and Postgres refuses to start while the pid in its lock file
 * answers.
 */
export function isGone(rec: PidRecord): boolean {
  return procStartTicks(rec.pid) !== rec.startTicks;
}

/** Wait (bounded) until the process is reaped; true when it is. */
export async function waitGone(rec: PidRecord, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!isGone(rec)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

export function rssMiB(pid: number): number | undefined {
  // Sum the resident memory of the process and its descendants (Postgres forks backends).
  const all = new Map<number, { ppid: number; rssKb: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
      const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      all.set(Number(entry), { ppid, rssKb });
    } catch {
      /* process went away */
    }
  }
  if (!all.has(pid)) return undefined;
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    total += all.get(p)?.rssKb ?? 0;
    for (const [child, info] of all) if (info.ppid === p) stack.push(child);
  }
  return Math.round(total / 1024);
}

function lookupUser(name: string): { uid: number; gid: number } | undefined {
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

export function userIds(name: string): { uid: number; gid: number } {
  const ids = lookupUser(name);
  if (!ids) throw new Error(`OS user '${name}' does not exist`);
  return ids;
}

/** Spawn a detached process group whose stdout/stderr append to logFile; write the pidfile. */
export function spawnDetached(spec: ProcessSpec, logFile: string, pidFile: string): PidRecord {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `\n==== ${new Date().toISOString()} starting: ${spec.command} ${spec.args.join(' ')}\n`);
  const ids = spec.user ? userIds(spec.user) : undefined;
  if (ids) fs.fchownSync(fd, ids.uid, ids.gid);
  const env = { ...(process.env as Record<string, string>), ...spec.env };
  writeAtomic(launchFileOf(pidFile), JSON.stringify({ command: spec.command, args: spec.args, cwd: spec.cwd, user: spec.user, env } satisfies LaunchRecord), 0o600);
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env,
    detached: true,
    stdio: ['ignore', fd, fd],
    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
  fs.closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not spawn ${spec.command}`);
  child.unref();
  const rec: PidRecord = {
    pid: child.pid,
    startTicks: procStartTicks(child.pid) ?? '',
    command: `${spec.command} ${spec.args.join(' ')}`,
    startedAt: new Date().toISOString(),
  };
  writeAtomic(pidFile, JSON.stringify(rec, null, 2));
  return rec;
}

/**
 * Stop a process we started: the signal goes to the leader (Postgres wants
 * SIGINT on the postmaster alone, JVMs shut down on SIGTERM); after the grace
 * period, or once the leader is gone, anything left in its process group is
 * SIGKILLed.
 */
export async function stopProcess(rec: PidRecord, signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000): Promise<'stopped' | 'killed'> {
  const killGroup = () => {
    try {
      process.kill(-rec.pid, 'SIGKILL');
    } catch {
      /* group already empty */
    }
  };
  try {
    process.kill(rec.pid, signal);
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurs(rec)) {
      killGroup();
      await waitGone(rec, 5_000);
      return 'stopped';
    }
    await sleep(200);
  }
  killGroup();
  for (let i = 0; i < 50 && isOurs(rec); i++) await sleep(100);
  return 'killed';
}

/** Resolves when nothing listens on host:port; otherwise rejects with a message naming the port. */
export function assertPortFree(port: number, owner: string, envName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new Error(
            `${owner}: port ${port} on 127.0.0.1 is already in use by another process. ` +
              `Stop that process (\`ss -ltnp 'sport = :${port}'\` shows it) or choose another port with ${envName}=<port>.`,
          ),
        );
      } else reject(new Error(`${owner}: cannot bind 127.0.0.1:${port}: ${err.message}`));
    });
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

export function tcpReachable(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export function tailFile(file: string, lines = 30): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log file)';
  }
}

export const hostname = os.hostname();
