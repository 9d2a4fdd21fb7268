/**
 * The supervisor's own process (cli/stack-supervisor.ts): `up` starts it when it
 * is not running (also after it was killed), a full `down` stops it first.
 * One command at a time decides, under a lock of its own; the supervisor
 * holds another for its lifetime, so two never watch one stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import { lockName, withLock } from './lock.ts';
import { isOurs, launchFileOf, readPidfile, spawnDetached, stopProcess, type PidRecord } from './process.ts';
import type { StackContext } from './types.ts';

export const SUPERVISOR = 'supervisor';

const pidfile = (ctx: StackContext) => path.join(ctx.pidDir, `${SUPERVISOR}.pid`);
const startLock = (ctx: StackContext) => lockName(ctx.pidDir, `${SUPERVISOR}-start`);
const busy = 'another command is starting or stopping the supervisor';

/** The running supervisor, if any. */
export function supervisorRunning(ctx: StackContext): PidRecord | undefined {
  const rec = readPidfile(pidfile(ctx));
  return isOurs(rec) ? rec : undefined;
}

export async function ensureSupervisor(ctx: StackContext): Promise<void> {
  await withLock(startLock(ctx), 30_000, busy, async () => {
    if (supervisorRunning(ctx)) return;
    const rec = spawnDetached(
      {
        command: process.execPath,
        args: ['--import', 'tsx', path.join(ctx.repoRoot, 'cli', 'stack-supervisor.ts'), '--profile', ctx.profile, '--state-dir', ctx.stateDir],
        cwd: ctx.repoRoot,
      },
      path.join(ctx.logDir, `${SUPERVISOR}.log`),
      pidfile(ctx),
    );
    ctx.progress(`[up] supervisor: started pid ${rec.pid} (restarts a component that exits unexpectedly)`);
  });
}

export async function stopSupervisor(ctx: StackContext): Promise<void> {
  await withLock(startLock(ctx), 30_000, busy, async () => {
    const rec = supervisorRunning(ctx);
    if (rec) ctx.progress(`[down] supervisor: ${await stopProcess(rec, 'SIGTERM', 10_000)} (pid ${rec.pid})`);
    for (const f of [pidfile(ctx), launchFileOf(pidfile(ctx))]) fs.rmSync(f, { force: true });
  });
}
