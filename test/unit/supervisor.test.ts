/**
 * The supervisor's decisions: when a component that exited is restarted
 * (backoff doubling to a cap, reset by a stable run), that `down` and `kill`
 * are never taken for a crash, and what is counted. Pidfiles are real files
 * naming real (exited or running) processes; the manager's restart is a fake.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockName, tryLock } from '../../stack/lib/lock.ts';
import { markEnded, readPidfile, spawnDetached, stopProcess } from '../../stack/lib/process.ts';
import { afterRestart, decide, delayMs, idle, type Backoff, type Watch } from '../../stack/lib/restart-policy.ts';
import { readRestarts } from '../../stack/lib/restarts.ts';
import type { StackManager } from '../../stack/lib/manager.ts';
import { Supervisor } from '../../stack/lib/supervisor.ts';
import type { Component, StackContext } from '../../stack/lib/types.ts';

const b: Backoff = { initialMs: 1_000, maxMs: 60_000, stableMs: 60_000 };
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'supervisor-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('restart policy', () => {
  it('doubles the delay from 1 s up to a minute', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map((f) => delayMs(f, b))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('never restarts what is absent or was stopped on purpose', () => {
    expect(decide(idle, { kind: 'absent' }, 0, b).restart).toBe(false);
    const w: Watch = { pid: 7, since: 0, failures: 3 };
    expect(decide(w, { kind: 'stopped', pid: 7 }, 100_000, b)).toEqual({ watch: idle, restart: false, newCrash: false });
  });

  it('restarts a crash after the first delay, once, and says so once', () => {
    const running = decide(idle, { kind: 'running', pid: 7 }, 0, b).watch;
    const found = decide(running, { kind: 'crashed', pid: 7 }, 120_000, b);
    expect(found).toMatchObject({ restart: false, newCrash: true, watch: { failures: 1, restartAt: 121_000 } });
    const early = decide(found.watch, { kind: 'crashed', pid: 7 }, 120_500, b);
    expect(early).toMatchObject({ restart: false, newCrash: false });
    expect(decide(early.watch, { kind: 'crashed', pid: 7 }, 121_000, b)).toMatchObject({ restart: true, newCrash: false });
  });

  it('backs off for a crash loop and starts again at 1 s after a stable run', () => {
    let w: Watch = decide(idle, { kind: 'running', pid: 1 }, 0, b).watch;
    let now = 0;
    const delays: number[] = [];
    for (let pid = 1; pid <= 5; pid++) {
      now += 5_000; // each run lasts 5 s
      const d = decide(w, { kind: 'crashed', pid }, now, b);
      delays.push(d.watch.restartAt! - now);
      now = d.watch.restartAt!;
      w = afterRestart(d.watch, { pid: pid + 1 }, now, b);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    // The next run lasts a minute: healthy again, so its crash is restarted after 1 s.
    now += 60_000;
    w = decide(w, { kind: 'running', pid: 6 }, now, b).watch;
    expect(w.failures).toBe(0);
    expect(decide(w, { kind: 'crashed', pid: 6 }, now + 1, b).watch.restartAt).toBe(now + 1 + 1_000);
  });

  it('waits longer after a restart that failed', () => {
    const w: Watch = { pid: 3, failures: 2, restartAt: 10_000 };
    expect(afterRestart(w, { failed: true }, 10_000, b)).toEqual({ pid: 3, failures: 3, restartAt: 14_000 });
  });

  it('restarts a process that was already gone when the supervisor started after the first delay', () => {
    expect(decide(idle, { kind: 'crashed', pid: 9 }, 50_000, b).watch).toMatchObject({ failures: 1, restartAt: 51_000 });
  });
});

function scratchStack(): StackContext {
  const stateDir = fs.mkdtempSync(path.join(scratch, 'state-'));
  return { profile: 'test', stateDir, logDir: path.join(stateDir, 'logs'), pidDir: path.join(stateDir, 'pids'), progress: () => undefined } as unknown as StackContext;
}

const component = (name: string) => ({ name }) as Component;

/** A real pidfile for a process that has already exited (a crash, as far as the pidfile can tell). */
async function exitedPidfile(ctx: StackContext, name: string): Promise<void> {
  const rec = spawnDetached({ command: 'sleep', args: ['60'] }, path.join(ctx.logDir, `${name}.log`), path.join(ctx.pidDir, `${name}.pid`));
  await stopProcess(rec, 'SIGKILL', 5_000);
}

describe('supervisor', () => {
  it('restarts a crashed component after the backoff, counts it, and leaves killed, stopped and busy ones alone', async () => {
    const ctx = scratchStack();
    await exitedPidfile(ctx, 'crashy');
    await exitedPidfile(ctx, 'killed');
    await exitedPidfile(ctx, 'starting'); // exited while `up` holds it: `up` reports that, not the supervisor
    const killedPf = path.join(ctx.pidDir, 'killed.pid');
    markEnded(killedPf, readPidfile(killedPf)!, 'kill');
    const calls: string[] = [];
    const fake = {
      ctx,
      components: [component('crashy'), component('killed'), component('absent'), component('starting')],
      busy: async (c: Component) => c.name === 'starting',
      restartCrashed: async (c: Component) => {
        calls.push(c.name);
        return { pid: 4242 };
      },
    } as unknown as StackManager;
    let now = 1_000_000;
    const logs: string[] = [];
    const sup = new Supervisor(fake, { backoff: b, now: () => now, log: (m) => logs.push(m) });

    await sup.look();
    await sup.settled();
    expect(calls).toEqual([]);
    expect(logs.join('\n')).toMatch(/crashy: pid \d+ exited without being stopped; restarting it in 1 s/);
    now += 1_000;
    await sup.look();
    await sup.settled();
    await sup.look(); // the fake left the pidfile as it was; the next restart waits for the next delay
    await sup.settled();
    expect(calls).toEqual(['crashy']);
    expect(readRestarts(ctx.stateDir)).toMatchObject({ crashy: { restarts: 1 } });
    expect(readRestarts(ctx.stateDir).killed).toBeUndefined();
    expect(logs.join('\n')).not.toMatch(/^(starting|killed|absent):/m);
  });

  it('counts a failed restart, keeps its reason and tries again later', async () => {
    const ctx = scratchStack();
    await exitedPidfile(ctx, 'broken');
    const fake = {
      ctx,
      components: [component('broken')],
      busy: async () => false,
      restartCrashed: async () => {
        throw new Error('broken exited during start. Last lines of …\nFATAL');
      },
    } as unknown as StackManager;
    let now = 0;
    const sup = new Supervisor(fake, { backoff: b, now: () => now, log: () => undefined });
    await sup.look();
    now = 1_000;
    await sup.look();
    await sup.settled();
    expect(readRestarts(ctx.stateDir).broken).toMatchObject({ restarts: 1, lastError: 'broken exited during start. Last lines of …' });
    now = 2_000;
    await sup.look();
    await sup.settled();
    expect(readRestarts(ctx.stateDir).broken?.restarts).toBe(1); // not yet: the next try is due 2 s after the failure
    now = 3_000;
    await sup.look();
    await sup.settled();
    expect(readRestarts(ctx.stateDir).broken?.restarts).toBe(2);
  });
});

describe('component locks', () => {
  it('are held by one taker at a time, per stack folder and name, and free again once released', async () => {
    const name = lockName(scratch, 'postgres');
    expect(lockName(`${scratch}-other`, 'postgres')).not.toBe(name);
    const first = await tryLock(name);
    expect(first).toBeDefined();
    expect(await tryLock(name)).toBeUndefined();
    const other = await tryLock(lockName(scratch, 'kafka'));
    expect(other).toBeDefined();
    await other!.release();
    await first!.release();
    const again = await tryLock(name);
    expect(again).toBeDefined();
    await again!.release();
  });
});
