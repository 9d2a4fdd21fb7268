/**
 * Postgres 15 from Debian's package, run as the unprivileged `postgres` OS user
 * (initdb refuses root), loopback only (on a cluster host: its bridge address, with password logins
 * from the bridge's subnet), wal_level=logical for Debezium.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { withPostgres, type pg } from '../../connectors/postgres/pool.ts';
import { aptInstall } from '../lib/apt.ts';
import { run, InstallError } from '../lib/download.ts';
import { userIds } from '../lib/process.ts';
import type { Component, StackContext } from '../lib/types.ts';
import { versions } from '../versions.ts';
import { config } from '../../config/load.ts';
import { passwordFile, pgRoles, profilePasswords, roleUrl, type Passwords, type PgRole } from '../../config/profiles.ts';

const OS_USER = 'postgres';
const binDir = `/usr/lib/postgresql/${versions.postgresMajor}/bin`;

export { pgRoles };

const generatesPasswords = (ctx: StackContext) => ctx.profile !== 'dev';
const readPasswords = (ctx: StackContext): Passwords | undefined => (fs.existsSync(passwordFile(ctx.stateDir)) ? profilePasswords('test', ctx.stateDir) : undefined);

function newPasswords(): Passwords {
  const one = () => crypto.randomBytes(24).toString('base64url');
  return { superuser: one(), app: one(), cdc: one() };
}

function writePasswords(ctx: StackContext, p: Passwords): void {
  fs.mkdirSync(path.dirname(passwordFile(ctx.stateDir)), { recursive: true });
  fs.writeFileSync(passwordFile(ctx.stateDir), JSON.stringify(p), { mode: 0o600 });
}

/**
 * The passwords of this stack's roles. Test profile: generated once, kept in
 * `<state>/postgres/passwords.json` (mode 600, config/profiles.ts reads it); a
 * cluster made before that file existed still has the development values
 * until afterStart rotates them.
 */
export function pgCredentials(ctx: StackContext): Passwords {
  return profilePasswords(ctx.profile, ctx.stateDir);
}

/** A role's URL on this stack's Postgres (or, with `port`, another server of the same cluster: the standby). */
export function databaseUrl(ctx: StackContext, role: PgRole = 'app', port = ctx.ports.postgres): string {
  return roleUrl(pgCredentials(ctx), role, port, ctx.hosts.postgres);
}

/** The app role's URL without its password, for what people read (`stack status`). */
export const displayUrl = (ctx: StackContext): string => `postgres://${pgRoles.app.user}@${ctx.hosts.postgres}:${ctx.ports.postgres}/${pgRoles.app.database} (password: npm run stack -- env)`;

export const dataDir = (ctx: StackContext) => path.join(ctx.stateDir, 'postgres', 'data');
export const socketDir = (ctx: StackContext) => path.join(ctx.stateDir, 'postgres', 'run');
export const pgBin = (name: string) => path.join(binDir, name);
export const PG_OS_USER = OS_USER;

/** The server's settings, shared with the standby (stack/components/standby.ts), which becomes this server after a failover. */
export function serverArgs(ctx: StackContext, where: { dataDir: string; port: number; socketDir: string }): string[] {
  return [
    '-D', where.dataDir,
    '-c', `port=${where.port}`,
    '-c', `listen_addresses=${ctx.bind}`,
    '-c', `unix_socket_directories=${where.socketDir}`,
    '-c', 'wal_level=logical',
    '-c', 'max_wal_senders=10',
    '-c', 'max_replication_slots=10',
    // Bound the WAL a stopped consumer can pin; the lag report shows what is retained (npm run recover after a loss).
    '-c', `max_slot_wal_keep_size=${config(ctx.profile).stack.walKeepSize}`,
    '-c', 'timezone=UTC',
    '-c', 'log_timezone=UTC',
    '-c', 'shared_buffers=128MB',
  ];
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.chownSync(dir, uid, gid);
}

/** Roles and grants shared with docker-compose (docker/postgres/initdb/10-astros.sh runs the same files). */
export const initSqlDir = (ctx: StackContext): string => path.join(ctx.repoRoot, 'db', 'init');

function readInitSql(ctx: StackContext, name: string): string {
  return fs.readFileSync(path.join(initSqlDir(ctx), name), 'utf8');
}

/**
 * On a host of the cluster, the other hosts connect over the bridge: let
 * password logins in from the host's own subnet (`samenet`: the /24 of its one
 * interface), the replication role too (pg_basebackup). Loopback stacks keep
 * initdb's loopback-only file.
 */
const HOSTS_LINES = ['host all all samenet scram-sha-256', 'host replication all samenet scram-sha-256'];
function allowHosts(ctx: StackContext, uid: number, gid: number): void {
  if (ctx.bind === '127.0.0.1') return;
  const hba = path.join(dataDir(ctx), 'pg_hba.conf');
  const text = fs.readFileSync(hba, 'utf8');
  const missing = HOSTS_LINES.filter((l) => !text.split('\n').includes(l));
  if (missing.length === 0) return;
  fs.appendFileSync(hba, `\n# The cluster's other hosts (stack/components/postgres.ts)\n${missing.join('\n')}\n`);
  fs.chownSync(hba, uid, gid);
}

export const withClient = <T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> => withPostgres(url, 'astros-stack', fn, 2000);

/**
 * A table group's own source database on this server (ASTROS_GROUP_DATABASES, connectors/postgres/sources.ts):
 * made with the app role as owner, and given what the astros database's superuser setup gives the capture:
 * the CDC role's CONNECT and schema usage, the slot functions recovery calls (20_grants.sql), the event
 * triggers that log its tables' schema changes (30_schema_changes.sql). Idempotent. The rest (publication,
 * heartbeat table, DDL log, grants per table) the pipeline's apply makes as the app role.
 */
export async function prepareSourceDatabase(repoRoot: string, superuserUrl: string, database: string): Promise<void> {
  await withClient(superuserUrl, async (c) => {
    const db = await c.query('select 1 from pg_database where datname = $1', [database]);
    if (db.rowCount === 0) await c.query(`create database "${database.replaceAll('"', '""')}" owner ${pgRoles.app.user}`);
  });
  const u = new URL(superuserUrl);
  u.pathname = `/${database}`;
  await withClient(u.toString(), async (c) => {
    await c.query(fs.readFileSync(path.join(repoRoot, 'db', 'init', '20_grants.sql'), 'utf8'));
    await c.query(fs.readFileSync(path.join(repoRoot, 'db', 'init', '30_schema_changes.sql'), 'utf8'));
  });
}

export const postgres: Component = {
  name: 'postgres',
  dependsOn: [],
  startTimeoutSeconds: 60,
  // Fast shutdown: roll back open transactions instead of waiting for clients to leave.
  stopSignal: 'SIGINT',
  url: displayUrl,

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
    if (fs.existsSync(path.join(dataDir(ctx), 'PG_VERSION'))) return allowHosts(ctx, uid, gid);
    if (generatesPasswords(ctx)) writePasswords(ctx, newPasswords());
    const pwfile = path.join(base, '.pwfile');
    fs.writeFileSync(pwfile, pgCredentials(ctx).superuser, { mode: 0o600 });
    fs.chownSync(pwfile, uid, gid);
    ctx.progress('[prepare] postgres: initdb');
    await run('runuser', ['-u', OS_USER, '--', path.join(binDir, 'initdb'), '-D', dataDir(ctx), '-U', pgRoles.superuser.user, '--pwfile', pwfile, '--auth-local=peer', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8']);
    fs.rmSync(pwfile);
    allowHosts(ctx, uid, gid);
  },

  async process(ctx) {
    return { command: path.join(binDir, 'postgres'), args: serverArgs(ctx, { dataDir: dataDir(ctx), port: ctx.ports.postgres, socketDir: socketDir(ctx) }), user: OS_USER };
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
    const { app } = pgRoles;
    // A test cluster made before passwords were generated still has the development ones: rotate them once.
    const rotate = generatesPasswords(ctx) && readPasswords(ctx) === undefined ? newPasswords() : undefined;
    const pw = rotate ?? pgCredentials(ctx);
    await withClient(databaseUrl(ctx, 'superuser'), async (c) => {
      // Passwords travel as parameters, never in statement text (which Postgres may log).
      await c.query(`select set_config('astros.app_password', $1, false), set_config('astros.cdc_password', $2, false), set_config('astros.superuser_password', $3, false)`, [
        pw.app,
        pw.cdc,
        pw.superuser,
      ]);
      await c.query(readInitSql(ctx, '10_roles.sql'));
      if (rotate) {
        const alter = (role: string, setting: string) => `execute format('alter role %I password %L', '${role}', current_setting('${setting}'));`;
        await c.query(
          `do $rotate$ begin ${alter(pgRoles.superuser.user, 'astros.superuser_password')} ${alter(app.user, 'astros.app_password')} ${alter(pgRoles.cdc.user, 'astros.cdc_password')} end $rotate$`,
        );
        writePasswords(ctx, rotate);
      }
      const db = await c.query('select 1 from pg_database where datname = $1', [app.database]);
      if (db.rowCount === 0) await c.query(`create database ${app.database} owner ${app.user}`);
    });
    await withClient(databaseUrl(ctx, 'superuser').replace(/\/postgres$/, `/${app.database}`), async (c) => {
      await c.query(readInitSql(ctx, '20_grants.sql'));
      await c.query(readInitSql(ctx, '30_schema_changes.sql'));
    });
    // The table groups' own databases on this server.
    for (const url of Object.values(config(ctx.profile).groupDatabases)) {
      const u = new URL(url);
      if (u.hostname === ctx.hosts.postgres && Number(u.port) === ctx.ports.postgres) await prepareSourceDatabase(ctx.repoRoot, databaseUrl(ctx, 'superuser'), decodeURIComponent(u.pathname.slice(1)));
    }
  },
};
