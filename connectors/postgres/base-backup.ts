/**
 * Postgres' side of a backup: a base backup with the WAL it needs
 * (`pg_basebackup -Ft -z -X stream`: base.tar.gz, pg_wal.tar.gz,
 * backup_manifest), its extraction into a fresh data directory, and the step
 * a source restore needs before `recover`: moving the restored server's WAL
 * position past every LSN ClickHouse holds.
 *
 * Why that step: ClickHouse orders each key's changes by their source LSN
 * (the version of the current state, the change log's key, the SCD2
 * history). A restored Postgres writes WAL again from where its backup ends,
 * below the LSNs of the changes ClickHouse received after the backup; new
 * changes would then sort before older ones. Switching WAL segments until the
 * position passes ClickHouse's newest LSN keeps every new change after them.
 * (Replication slots are not in a base backup: `recover` makes a new one.)
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { lsnToBigInt } from '../../shared/lsn.ts';
import { withPostgres } from './pool.ts';

/** Connection settings for the client tools: the password goes by environment, not on the command line. */
function clientEnv(url: string): { conn: string; env: Record<string, string> } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { conn: u.toString(), env: password ? { PGPASSWORD: password } : {} };
}

/** Run pg_basebackup into `dir` (created, must not exist), reporting kB done / total. */
export function baseBackup(binary: string, url: string, dir: string, onProgress: (doneKb: number, totalKb: number) => void): Promise<void> {
  const { conn, env } = clientEnv(url);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['-d', conn, '-D', dir, '-Ft', '-z', '-X', 'stream', '-c', 'fast', '-P', '--no-password'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      tail = (tail + text).slice(-2_000);
      const m = [...text.matchAll(/(\d+)\/(\d+) kB/g)].at(-1);
      if (m) onProgress(Number(m[1]), Number(m[2]));
    });
    child.once('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code === 'ENOENT' ? `${binary} not found (Postgres 15 client tools; set PG_BASEBACKUP)` : err.message)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_basebackup exited with ${code}: ${tail.replace(/\r/g, '\n').trim().split('\n').slice(-3).join(' / ')}`))));
  });
}

export async function sha256(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The files pg_basebackup wrote, with sizes and digests (what verify checks again). */
export async function describeFiles(dir: string): Promise<{ name: string; bytes: number; sha256: string }[]> {
  const names = fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile()).sort();
  return Promise.all(names.map(async (name) => ({ name, bytes: fs.statSync(path.join(dir, name)).size, sha256: await sha256(path.join(dir, name)) })));
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${err.trim().slice(0, 300)}`))));
  });
}

/**
 * Unpack a base backup (base.tar.gz, pg_wal.tar.gz in `from`) into `dataDir`,
 * which must be missing or empty; owned by `owner` (an OS user) when given.
 * Starting Postgres on it replays the WAL and ends recovery consistent.
 */
export async function extractBaseBackup(from: string, dataDir: string, owner?: string): Promise<void> {
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) throw new Error(`${dataDir} is not empty: restore into a fresh data directory (move the old one aside first)`);
  for (const f of ['base.tar.gz', 'pg_wal.tar.gz']) if (!fs.existsSync(path.join(from, f))) throw new Error(`the backup has no postgres/${f}`);
  fs.mkdirSync(path.join(dataDir, 'pg_wal'), { recursive: true, mode: 0o700 });
  await run('tar', ['-xzf', path.join(from, 'base.tar.gz'), '-C', dataDir]);
  await run('tar', ['-xzf', path.join(from, 'pg_wal.tar.gz'), '-C', path.join(dataDir, 'pg_wal')]);
  fs.chmodSync(dataDir, 0o700);
  if (owner) await run('chown', ['-R', `${owner}:`, dataDir]);
}

/**
 * Switch WAL segments until the server's position is past `target` (an LSN as
 * a number). Each switch ends the current 16 MB segment; a committed
 * transaction id first makes sure there is something to switch from. Needs
 * pg_switch_wal (a superuser, or EXECUTE granted). Returns the positions.
 */
export async function advanceWal(url: string, target: bigint, onProgress: (at: string) => void): Promise<{ from: string; to: string; switches: number }> {
  return withPostgres(url, 'astros-backup', async (client) => {
    const at = async () => (await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
    const from = await at();
    let switches = 0;
    for (let now = from; lsnToBigInt(now) <= target; now = await at()) {
      await client.query('begin');
      await client.query('select pg_current_xact_id()');
      await client.query('commit');
      await client.query('select pg_switch_wal()').catch((err: Error) => {
        throw new Error(`pg_switch_wal: ${err.message} (connect as a superuser, or GRANT EXECUTE ON FUNCTION pg_switch_wal() TO the role)`);
      });
      if (++switches % 16 === 0) onProgress(now);
    }
    return { from, to: await at(), switches };
  });
}
