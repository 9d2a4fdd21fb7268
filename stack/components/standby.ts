/**
 * A streaming standby of the stack's Postgres, for failover drills: started
 * only when named (`npm run stack -- up standby`), on its own port
 * (PG_STANDBY_PORT: 5433, test 25433), as the `postgres` OS user like the
 * primary. Each start clones the primary afresh (pg_basebackup -R: a base
 * backup, standby.signal and primary_conninfo over the primary's Unix
 * socket), so a standby never trails a primary it no longer follows; it holds
 * nothing of its own. Like every Postgres 15 standby it has no logical
 * replication slots: after a promotion (stack/lib/failover.ts) the pipeline's
 * slot does not exist there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../lib/download.ts';
import { userIds } from '../lib/process.ts';
import type { Component, StackContext } from '../lib/types.ts';
import { databaseUrl, PG_OS_USER, pgBin, pgRoles, postgres, serverArgs, socketDir as primarySocketDir, withClient } from './postgres.ts';

export const standbyDataDir = (ctx: StackContext) => path.join(ctx.stateDir, 'standby', 'data');
export const standbySocketDir = (ctx: StackContext) => path.join(ctx.stateDir, 'standby', 'run');

export const standby: Component = {
  name: 'standby',
  optional: true,
  namedOnly: true,
  dependsOn: ['postgres'],
  startTimeoutSeconds: 60,
  stopSignal: 'SIGINT',
  url: (ctx) => `postgres://${pgRoles.app.user}@127.0.0.1:${ctx.ports.postgresStandby}/${pgRoles.app.database} (streaming standby of postgres)`,

  install: (ctx) => postgres.install(ctx),

  async prepare(ctx) {
    const { uid, gid } = userIds(PG_OS_USER);
    const base = path.join(ctx.stateDir, 'standby');
    fs.rmSync(base, { recursive: true, force: true });
    for (const d of [base, standbySocketDir(ctx)]) {
      fs.mkdirSync(d, { recursive: true });
      fs.chownSync(d, uid, gid);
    }
    ctx.progress('[prepare] standby: pg_basebackup of postgres');
    await run('runuser', [
      '-u', PG_OS_USER, '--',
      pgBin('pg_basebackup'),
      '-D', standbyDataDir(ctx),
      '-h', primarySocketDir(ctx),
      '-p', String(ctx.ports.postgres),
      '-U', pgRoles.superuser.user,
      '-X', 'stream',
      '-c', 'fast',
      '-R',
    ]);
  },

  async process(ctx) {
    return { command: pgBin('postgres'), args: serverArgs(ctx, { dataDir: standbyDataDir(ctx), port: ctx.ports.postgresStandby, socketDir: standbySocketDir(ctx) }), user: PG_OS_USER };
  },

  async healthy(ctx) {
    try {
      await withClient(databaseUrl(ctx, 'superuser', ctx.ports.postgresStandby), (c) => c.query('select 1'));
      return true;
    } catch {
      return false;
    }
  },
};
