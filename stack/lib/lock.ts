/**
 * Locks between the processes that manage one stack: `up`, `down`, `kill`
 * and the supervisor each take a component's lock before they start, stop or
 * mark it, so two of them never spawn the same component or stop one the
 * other is starting.
 *
 * A lock is a listening Unix socket in Linux's abstract namespace: binding
 * its name is atomic and exclusive, and the kernel frees it when the holder
 * exits, however it exits. A lock file would need stale-lock breaking (the
 * holder was SIGKILLed), which is itself a race; this has none. Linux only,
 * as is the rest of the native stack (/proc).
 */
import crypto from 'node:crypto';
import net from 'node:net';

export interface Lock {
  release(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One name per stack state folder and resource: two clones or profiles never share a lock. */
export function lockName(pidDir: string, resource: string): string {
  return `\0astros-stack-${crypto.createHash('sha256').update(pidDir).digest('hex').slice(0, 16)}-${resource}`;
}

/** The lock when it is free now; undefined when another process holds it. */
export function tryLock(name: string): Promise<Lock | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    server.listen({ path: name }, () => {
      // Held for as long as this process wants it; it must not keep the event loop alive by itself.
      server.unref();
      resolve({ release: () => new Promise<void>((r) => server.close(() => r())) });
    });
  });
}

/** Wait for the lock; fails after `timeoutMs` naming `what` (e.g. "postgres is being started by another command"). */
export async function lock(name: string, timeoutMs: number, what: string): Promise<Lock> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await tryLock(name);
    if (l) return l;
    if (Date.now() > deadline) throw new Error(`${what} (still busy after ${Math.round(timeoutMs / 1000)} s)`);
    await sleep(200);
  }
}

/** Run `fn` holding the lock. */
export async function withLock<T>(name: string, timeoutMs: number, what: string, fn: () => Promise<T>): Promise<T> {
  const l = await lock(name, timeoutMs, what);
  try {
    return await fn();
  } finally {
    await l.release();
  }
}
