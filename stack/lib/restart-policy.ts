/**
 * When the supervisor restarts a component: the decision, as a pure function
 * of what it knew and what it sees now (stack/lib/supervisor.ts does the I/O).
 *
 * Like systemd's Restart=on-failure and Kubernetes' CrashLoopBackOff: a
 * process that exits without being stopped on purpose is started again after
 * a delay that doubles with each short-lived run (1 s, 2 s, 4 s … up to a
 * minute), and a run that lasted a minute counts as healthy again, so the
 * next crash is restarted after the first delay. A process stopped by
 * `stack down` (its pidfile removed) or `stack kill` (its pidfile marked) is
 * left alone: `kill` is how a person or the fault suite simulates a crash
 * that they bring back themselves with `up`.
 */

export interface Backoff {
  /** Delay before the first restart of a crash after a stable run. */
  initialMs: number;
  /** The longest delay. */
  maxMs: number;
  /** A run at least this long resets the delay. */
  stableMs: number;
}

export const defaultBackoff: Backoff = { initialMs: 1_000, maxMs: 60_000, stableMs: 60_000 };

/** What the pidfile and /proc say of one component now. */
export type Seen =
  /** No pidfile: never started, or stopped by `down`. */
  | { kind: 'absent' }
  /** The pidfile names a live process we started. */
  | { kind: 'running'; pid: number }
  /** The pidfile's process is gone and was marked as stopped on purpose (`kill`). */
  | { kind: 'stopped'; pid: number }
  /** The pidfile's process is gone and nobody meant it to. */
  | { kind: 'crashed'; pid: number };

/** What the supervisor remembers of one component between looks. */
export interface Watch {
  /** The process last seen running. */
  pid?: number;
  /** When that process was first seen running (or started by the supervisor). */
  since?: number;
  /** Crashes in a row of runs shorter than `stableMs`. */
  failures: number;
  /** When the pending restart is due; undefined when none is pending. */
  restartAt?: number;
}

export const idle: Watch = { failures: 0 };

/** The delay before restart number `failures + 1` of a crash loop. */
export function delayMs(failures: number, b: Backoff = defaultBackoff): number {
  return Math.min(b.maxMs, b.initialMs * 2 ** Math.min(failures, 30));
}

export interface Decision {
  watch: Watch;
  /** Restart now. */
  restart: boolean;
  /** This look found the crash (log it once). */
  newCrash: boolean;
}

export function decide(w: Watch, seen: Seen, now: number, b: Backoff = defaultBackoff): Decision {
  switch (seen.kind) {
    case 'absent':
    case 'stopped':
      return { watch: idle, restart: false, newCrash: false };
    case 'running': {
      const since = seen.pid === w.pid && w.since !== undefined ? w.since : now;
      const stable = now - since >= b.stableMs;
      return { watch: { pid: seen.pid, since, failures: stable ? 0 : w.failures }, restart: false, newCrash: false };
    }
    case 'crashed': {
      if (w.restartAt !== undefined) return { watch: w, restart: now >= w.restartAt, newCrash: false };
      // A run we saw last long enough (or one we never saw: the supervisor started after it ended) starts a new loop.
      const shortRun = w.pid === seen.pid && w.since !== undefined && now - w.since < b.stableMs;
      const failures = shortRun ? w.failures : 0;
      const restartAt = now + delayMs(failures, b);
      return { watch: { pid: seen.pid, since: w.since, failures: failures + 1, restartAt }, restart: now >= restartAt, newCrash: true };
    }
  }
}

/** After a restart attempt: started (its new pid, now the watched run) or failed (the next attempt after a longer delay). */
export function afterRestart(w: Watch, result: { pid: number } | { failed: true }, now: number, b: Backoff = defaultBackoff): Watch {
  if ('pid' in result) return { pid: result.pid, since: now, failures: w.failures };
  return { pid: w.pid, failures: w.failures + 1, restartAt: now + delayMs(w.failures, b) };
}
