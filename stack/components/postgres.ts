/**
 * Postgres 15 from Debian's package, run as the unprivileged `postgres` OS user
 * (initdb refuses root), loopback only, wal_level=logical for Debezium.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { aptInstall } from '../lib/apt.ts';
import { run, InstallError } from '../lib/download.ts';
import { userIds } from '../lib/process.ts';
import type { Component, StackContext } from '../lib/types.ts';
import { versions } from '../versions.ts';

const OS_USER = 'postgres';
const binDir = `/usr/lib/postgresql/${versions.postgresMajor}/bin`;

/** Development credentials of the embedded stack (loopback only); docker-compose reads them from .env. */
export const pgRoles = {
  superuser: { user: 'postgres', password: 'postgres' },
  app: { user: 'astros', password: 'astros', database: 'astros' },
  cdc: { user: 'astros_cdc', password: 'astros_cdc' },
} as const;

export function databaseUrl(ctx: StackContext, role: 'app' | 'cdc' | 'superuser' = 'app'): string {
  const r = pgRoles[role];
  const db = role === 'superuser' ? 'postgres' : pgRoles.app.database;
  return `postgres://${r.user}:${r.password}@127.0.0.1:${ctx.ports.postgres}/${db}`;
}

const dataDir = (ctx: StackContext) => path.join(ctx.stateDir, 'postgres', 'data');
const socketDir = (ctx: StackContext) => path.join(ctx.stateDir, 'postgres', 'run');

function chownTree(dir: string, uid: number, gid: number): void {
  fs.chownSync(dir, uid, gid);
}

/** Roles and grants shared with docker-compose (docker/postgres/initdb/10-astros.sh runs the same files). */
export const initSqlDir = (ctx: StackContext): string => path.join(ctx.repoRoot, 'db', 'init');

function readInitSql(ctx: StackContext, name: string): string {
  return fs.readFileSync(path.join(initSqlDir(ctx), name), 'utf8');
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const postgres: Component = {
  name: 'postgres',
  dependsOn: [],
  startTimeoutSeconds: 60,
  // Fast shutdown: roll back open transactions instead of waiting for clients to leave.
  stopSignal: 'SIGINT',
  url: (ctx) => databaseUrl(ctx),

  async install(ctx) {
    await aptInstall({ component: 'postgres', packages: [`postgresql-${versions.postgresMajor}`], provides: path.join(binDir, 'postgres') }, ctx.progress);
  },

  async prepare(ctx) {
    const { uid, gid } = userIds(OS_USER);
    const base = path.join(ctx.stateDir, 'postgres');
    for (const d of [base, socketDir(ctx)]) {
      fs.mkdirSync(d, { recursive: true });
      chownTree(d, uid, gid);
    }
    // The postgres user must be able to traverse to its data directory.
    for (let d = ctx.stateDir; d !== path.dirname(d); d = path.dirname(d)) {
      const mode = fs.statSync(d).mode;
      if ((mode & 0o001) === 0) throw new InstallError('postgres', `the OS user '${OS_USER}' cannot enter ${d}; make it traversable (chmod o+x) or set ASTROS_STATE_DIR elsewhere`);
    }
    if (fs.existsSync(path.join(dataDir(ctx), 'PG_VERSION'))) return;
    const pwfile = path.join(base, '.pwfile');
    fs.writeFileSync(pwfile, pgRoles.superuser.password, { mode: 0o600 });
    fs.chownSync(pwfile, uid, gid);
    ctx.progress('[prepare] postgres: initdb');
    await run('runuser', ['-u', OS_USER, '--', path.join(binDir, 'initdb'), '-D', dataDir(ctx), '-U', pgRoles.superuser.user, '--pwfile', pwfile, '--auth-local=peer', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8']);
    fs.rmSync(pwfile);
  },

  async process(ctx) {
    return {
      command: path.join(binDir, 'postgres'),
      args: [
        '-D', dataDir(ctx),
        '-c', `port=${ctx.ports.postgres}`,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', `unix_socket_directories=${socketDir(ctx)}`,
        '-c', 'wal_level=logical',
        '-c', 'max_wal_senders=10',
        '-c', 'max_replication_slots=10',
        // Bound the WAL a stopped consumer can pin; the lag report shows what is retained.
        '-c', 'max_slot_wal_keep_size=2GB',
        '-c', 'timezone=UTC',
        '-c', 'log_timezone=UTC',
        '-c', 'shared_buffers=128MB',
      ],
      user: OS_USER,
    };
  },

  async healthy(ctx) {
    try {
      await withClient(databaseUrl(ctx, 'superuser'), (c) => c.query('select 1'));
      return true;
    } catch {
      return false;
    }
  },

  async afterStart(ctx) {
    // The same SQL files docker-compose runs at its first start (db/init/); only the passwords differ.
    const { app, cdc } = pgRoles;
    await withClient(databaseUrl(ctx, 'superuser'), async (c) => {
      await c.query(`select set_config('astros.app_password', $1, false), set_config('astros.cdc_password', $2, false)`, [app.password, cdc.password]);
      await c.query(readInitSql(ctx, '10_roles.sql'));
      const db = await c.query('select 1 from pg_database where datname = $1', [app.database]);
      if (db.rowCount === 0) await c.query(`create database ${app.database} owner ${app.user}`);
    });
    await withClient(databaseUrl(ctx, 'superuser').replace(/\/postgres$/, `/${app.database}`), async (c) => {
      await c.query(readInitSql(ctx, '20_grants.sql'));
    });
  },
};
