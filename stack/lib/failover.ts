/**
 * A source failover on the native stack (`npm run stack -- failover`), in the
 * two steps a real one takes:
 *
 *   1. promoteStandby: the primary is gone (killed here if it still runs:
 *      two primaries would diverge), the standby is promoted (pg_promote) and
 *      takes writes on its own port, on a new timeline;
 *   2. moveStandbyToPrimary: the address moves to the new primary, as a DNS
 *      name or a virtual IP would: the standby is stopped cleanly and its
 *      data directory becomes the stack's Postgres, started on the usual port.
 *      Everything configured with that address (the worker, Kafka Connect,
 *      the monitor) reaches the new primary without a change.
 *
 * The old primary's data directory is deleted: it may hold commits the
 * standby never received, and it cannot follow the new timeline without
 * pg_rewind. Logical slots are not carried to a Postgres 15 standby, so the
 * pipeline's slot does not exist on the new primary: the lag report and the
 * monitor say so, and `npm run recover` makes a new one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { databaseUrl, dataDir, socketDir, withClient } from '../components/postgres.ts';
import { standby, standbyDataDir } from '../components/standby.ts';
import { StackError, type StackManager } from './manager.ts';
import type { StackContext } from './types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The state letter of /proc/<pid>/stat (R, S, Z, ...), undefined when there is no such process. */
function procState(pid: number): string | undefined {
  try {
    return /\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Postgres refuses to start while the PID in its socket's lock file exists, and a killed postmaster
 * stays a zombie until something reaps it. Wait for it to go; one that never does holds a stale lock.
 */
async function clearStaleSocketLock(ctx: StackContext): Promise<void> {
  const lock = path.join(socketDir(ctx), `.s.PGSQL.${ctx.ports.postgres}.lock`);
  let pid: number;
  try {
    pid = Number(fs.readFileSync(lock, 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  for (let i = 0; i < 60; i++) {
    const state = procState(pid);
    if (state !== 'Z') return; // gone (Postgres removes its stale lock itself), or alive (then `up` says the port is taken)
    await sleep(500);
  }
  fs.rmSync(lock, { force: true });
  fs.rmSync(lock.replace(/\.lock$/, ''), { force: true });
}

export interface Promoted {
  /** The new primary's timeline (from its WAL file name). */
  timeline: number;
  /** Its WAL position right after the promotion. */
  lsn: string;
}

/** Step 1: kill the primary if it runs, promote the standby; it then accepts writes on its own port. */
export async function promoteStandby(m: StackManager): Promise<Promoted> {
  const { ctx } = m;
  if (!m.running(standby)) throw new StackError('the standby is not running: start it first (npm run stack -- up standby), let it catch up, then fail over');
  await m.kill('postgres');
  return withClient(databaseUrl(ctx, 'superuser', ctx.ports.postgresStandby), async (c) => {
    const { rows } = await c.query<{ promoted: boolean }>('select pg_promote(true, 60) as promoted');
    if (!rows[0]?.promoted) throw new StackError('the standby did not finish its promotion within 60 s (npm run stack -- logs standby)');
    // The standby's link to the old primary means nothing now.
    await c.query('alter system reset primary_conninfo');
    const { rows: at } = await c.query<{ lsn: string; wal: string }>('select pg_current_wal_lsn()::text as lsn, pg_walfile_name(pg_current_wal_lsn()) as wal');
    const p = { timeline: parseInt(at[0]!.wal.slice(0, 8), 16), lsn: at[0]!.lsn };
    ctx.progress(`[failover] standby promoted: timeline ${p.timeline}, WAL at ${p.lsn}, port ${ctx.ports.postgresStandby}`);
    return p;
  });
}

/** Step 2: the promoted standby becomes the stack's Postgres, on the primary's port. */
export async function moveStandbyToPrimary(m: StackManager): Promise<void> {
  const { ctx } = m;
  const inRecovery = await withClient(databaseUrl(ctx, 'superuser', ctx.ports.postgresStandby), (c) => c.query<{ r: boolean }>('select pg_is_in_recovery() as r')).then((r) => r.rows[0]?.r);
  if (inRecovery !== false) throw new StackError('the standby is not promoted (npm run stack -- failover promotes it first)');
  await m.down(['standby']);
  const old = `${dataDir(ctx)}.replaced`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dataDir(ctx))) fs.renameSync(dataDir(ctx), old);
  fs.renameSync(standbyDataDir(ctx), dataDir(ctx));
  fs.rmSync(old, { recursive: true, force: true });
  await clearStaleSocketLock(ctx);
  await m.up(['postgres'], { withDbt: false });
  ctx.progress(`[failover] the new primary serves the stack's address (port ${ctx.ports.postgres})`);
}

/** Both steps. */
export async function failover(m: StackManager): Promise<Promoted> {
  const p = await promoteStandby(m);
  await moveStandbyToPrimary(m);
  return p;
}
