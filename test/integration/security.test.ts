/**
 * Security basics of the native stack (test profile), tested on the running
 * processes:
 *  - every listening TCP socket of the stack's process trees is bound to
 *    loopback (/proc/net/tcp{,6} matched to the sockets in /proc/<pid>/fd);
 *  - the Postgres roles have generated passwords, and none of them appears in
 *    `stack status`, the components' logs, workflow histories or the error
 *    messages of a failed connection and a failed run;
 *  - the CDC role (astros_cdc) can stream and read the captured tables but
 *    not write them, writes only the heartbeat table its connector writes,
 *    and cannot read what it does not capture;
 *  - the ClickHouse front's lack of authentication is said in `stack status`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestActivities } from '../../activities/ingest.ts';
import { createPool } from '../../connectors/postgres/pool.ts';
import { catalogEntries } from '../../catalog/store.ts';
import { migrate } from '../../connectors/postgres/migrate.ts';
import { databaseUrl, pgCredentials, pgRoles } from '../../stack/components/postgres.ts';
import { createContext } from '../../stack/lib/context.ts';
import { readPidfile } from '../../stack/lib/process.ts';
import { INGEST_WORKFLOW_TYPE } from '../../shared/workflows.ts';
import { requireEnv, runCommand, uniqueTag } from './helpers.ts';

const ctx = createContext('test', () => undefined);
const passwords = Object.values(pgCredentials(ctx));
let admin: pg.Pool;

beforeAll(() => {
  // The failing run's activity error is expected; the worker would log it as a warning.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  admin = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 2 });
});

afterAll(async () => {
  await admin?.end();
});

/** A process and all its descendants (ppid links in /proc/<pid>/stat). */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** Listening TCP sockets by inode: local address and port. */
function listeners(): Map<string, { address: string; port: number }> {
  const out = new Map<string, { address: string; port: number }>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      const [hex, port] = f[1]!.split(':') as [string, string];
      out.set(f[9]!, { address: decodeAddress(hex), port: parseInt(port, 16) });
    }
  }
  return out;
}

/** /proc/net/tcp addresses are little-endian 32-bit words. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  if (words.length === 1) return words[0]!.match(/../g)!.map((b) => parseInt(b, 16)).join('.');
  const v6 = words.join('').toLowerCase();
  if (v6 === '00000000000000000000000000000001') return '::1';
  if (v6 === '00000000000000000000000000000000') return '::';
  if (v6.startsWith('00000000000000000000ffff')) return `::ffff:${v6.slice(24).match(/../g)!.map((b) => parseInt(b, 16)).join('.')}`;
  return v6;
}

const isLoopback = (a: string) => a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');

describe('security basics of the native stack', () => {
  it('every listening socket of the stack binds to loopback', () => {
    const sockets = listeners();
    const found: string[] = [];
    const components = fs.readdirSync(ctx.pidDir).filter((f) => f.endsWith('.pid'));
    expect(components.length).toBeGreaterThanOrEqual(6);
    for (const file of components) {
      const rec = readPidfile(path.join(ctx.pidDir, file));
      if (!rec) continue;
      for (const pid of processTree(rec.pid)) {
        let fds: string[];
        try {
          fds = fs.readdirSync(`/proc/${pid}/fd`);
        } catch {
          continue;
        }
        for (const fd of fds) {
          const link = (() => {
            try {
              return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
            } catch {
              return '';
            }
          })();
          const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
          const l = inode ? sockets.get(inode) : undefined;
          if (l) found.push(`${file.replace('.pid', '')} pid ${pid} ${l.address}:${l.port}`);
        }
      }
    }
    console.log(`listening sockets of the test stack:\n  ${[...new Set(found)].join('\n  ')}`);
    expect(found.filter((f) => !isLoopback(f.split(' ').at(-1)!.replace(/:\d+$/, '')))).toEqual([]);
    // The expected ports are among them.
    for (const port of [ctx.ports.postgres, ctx.ports.kafka, ctx.ports.connect, ctx.ports.registry, ctx.ports.clickhouseHttp, ctx.ports.temporal]) {
      expect(found.some((f) => f.endsWith(`:${port}`))).toBe(true);
    }
  });

  it('the test profile has generated passwords, and none appears in status, logs, histories or error messages', { timeout: 120_000 }, async () => {
    const dev = Object.values(pgRoles).map((r) => r.password as string);
    for (const p of passwords) {
      expect(p.length).toBeGreaterThanOrEqual(24);
      expect(dev).not.toContain(p);
    }
    expect(requireEnv('DATABASE_URL')).toContain(encodeURIComponent(pgCredentials(ctx).app));
    const leaks = (where: string, text: string) => passwords.filter((p) => text.includes(p)).map(() => where);

    const status = await runCommand('node', ['--import', 'tsx', 'cli/stack.ts', 'status', '--profile', 'test']);
    expect(status.code).toBe(0);
    expect(status.text).toMatch(/clickhouse .*no authentication/);
    const found = leaks('stack status', status.text);

    for (const file of fs.readdirSync(ctx.logDir)) found.push(...leaks(`log ${file}`, fs.readFileSync(path.join(ctx.logDir, file), 'utf8')));

    // A failed connection and a failed CLI run say what failed, not with what password.
    const wrongDb = databaseUrl(ctx).replace(/\/astros$/, '/no_such_database');
    const err = await new pg.Client({ connectionString: wrongDb }).connect().then(() => '', (e: Error) => e.message);
    expect(err).toMatch(/no_such_database/);
    found.push(...leaks('pg error', err));
    const cli = await runCommand('node', ['--import', 'tsx', 'cli/astros.ts', 'migrate'], { DATABASE_URL: wrongDb });
    expect(cli.code).not.toBe(0);
    found.push(...leaks('astros migrate error', cli.text));

    // One ingest run that succeeds and one that fails (unreachable source): their histories hold no password.
    const schema = uniqueTag('sec');
    const address = requireEnv('TEMPORAL_ADDRESS');
    const native = await NativeConnection.connect({ address });
    const connection = await Connection.connect({ address });
    const pool = createPool(requireEnv('DATABASE_URL'), { schema: schema, max: 2, application: 'astros-ingest' });
    try {
      await migrate({ databaseUrl: requireEnv('DATABASE_URL'), schema });
      const taskQueue = `security-${schema}`;
      const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
      const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
      const worker = await Worker.create({
        connection: native,
        taskQueue,
        workflowBundle: await bundleWorkflowCode({ workflowsPath, logger: quiet }),
        activities: createIngestActivities({
          pool,
          source: { url: `${requireEnv('SIMULATOR_URL')}/s/${schema}/astros.json`, connectTimeoutMs: 1_000, responseTimeoutMs: 2_000, retries: 0, retryMinDelayMs: 10, maxBodyBytes: 1 << 20, maxPeople: 100 },
        }),
      });
      const client = new Client({ connection });
      await worker.runUntil(async () => {
        await client.workflow.execute(INGEST_WORKFLOW_TYPE, { taskQueue, workflowId: `${schema}-ok`, args: [{ validate: false }] });
        const failed = await client.workflow
          .execute(INGEST_WORKFLOW_TYPE, { taskQueue, workflowId: `${schema}-fail`, args: [{ validate: false, sourceUrl: `${requireEnv('SIMULATOR_URL')}/no-such-route` }], workflowExecutionTimeout: '30 seconds' })
          .then(() => undefined, (e: unknown) => e);
        expect(failed).toBeInstanceOf(WorkflowFailedError);
      });
      for (const id of [`${schema}-ok`, `${schema}-fail`]) {
        const history = await client.workflow.getHandle(id).fetchHistory();
        found.push(...leaks(`history of ${id}`, JSON.stringify(history, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v))));
      }
    } finally {
      await pool.end();
      await admin.query(`drop schema if exists "${schema}" cascade`);
      await connection.close();
      await native.close();
    }
    expect(found).toEqual([]);
  });

  it('the CDC role reads only the captured tables and writes only the heartbeat table', async () => {
    const cdc = new pg.Client({ connectionString: databaseUrl(ctx, 'cdc') });
    await cdc.connect();
    try {
      const role = await cdc.query<{ rolreplication: boolean; rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
        'select rolreplication, rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user',
      );
      expect(role.rows[0]).toEqual({ rolreplication: true, rolsuper: false, rolcreaterole: false, rolcreatedb: false });
      const captured = (await catalogEntries(admin)).filter((e) => e.state === 'active').map((e) => e.declaration.source);
      expect(captured).toContain('public.astronauts');
      const denied = async (sql: string) => cdc.query(sql).then(() => 'allowed', (e: { code?: string }) => e.code ?? 'error');
      for (const t of captured) {
        await cdc.query(`select * from ${t} limit 1`); // the snapshot reads it
        const column = (await admin.query<{ c: string }>('select quote_ident(attname) as c from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum limit 1', [t])).rows[0]!.c;
        expect(await denied(`insert into ${t} default values`), `insert into ${t}`).toBe('42501');
        expect(await denied(`update ${t} set ${column} = ${column}`), `update ${t}`).toBe('42501');
        expect(await denied(`delete from ${t}`), `delete from ${t}`).toBe('42501');
        expect(await denied(`truncate ${t}`), `truncate ${t}`).toBe('42501');
      }
      expect(await denied('create table public.cdc_should_not_create (x int)')).toBe('42501');
      expect(await denied('delete from public.ingest_runs')).toBe('42501');
      // Nor read what it does not capture (staged payloads, dead letters).
      expect(await denied('select 1 from public.ingest_payloads limit 1')).toBe('42501');
      expect(await denied('select 1 from public.ingest_rejects limit 1')).toBe('42501');
      // The heartbeat it must write (heartbeat.action.query), in a transaction rolled back.
      await cdc.query('begin');
      await cdc.query('update public.cdc_heartbeat set beat_at = now() where id = 1');
      await cdc.query('rollback');
    } finally {
      await cdc.end();
    }
  });
});
